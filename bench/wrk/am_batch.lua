-- 100 alerts per request to Alertmanager's API, each with new labels.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
end

request = function()
  counter = counter + 1
  local alerts = {}
  for i = 1, 100 do
    alerts[i] = string.format(
      '{"labels":{"alertname":"load","n":"%d-%d-%d","severity":"warning"},"annotations":{"summary":"load test alert"}}',
      thread_id, counter, i)
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '[' .. table.concat(alerts, ",") .. ']')
end
