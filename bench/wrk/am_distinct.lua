-- One alert per request to Alertmanager's API, each with new labels.
dofile("bench/wrk/threads.lua")

request = function()
  counter = counter + 1
  local body = string.format(
    '[{"labels":{"alertname":"load","n":"%d-%d","severity":"warning"},"annotations":{"summary":"load test alert"}}]',
    thread_id, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
