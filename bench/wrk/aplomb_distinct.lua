-- One PagerDuty Events v2 trigger per request, each with a new dedup key.
local key = os.getenv("KEY")
dofile("bench/wrk/threads.lua")

request = function()
  counter = counter + 1
  local body = string.format(
    '{"routing_key":"%s","event_action":"trigger","dedup_key":"k-%d-%d","payload":{"summary":"load test alert","source":"wrk","severity":"warning"}}',
    key, thread_id, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
