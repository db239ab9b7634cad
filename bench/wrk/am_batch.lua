-- 100 alerts per request to Alertmanager's API, each with new labels.
local counter = 0
-- Keys stay new across runs (the footprint phase runs wrk again and again).
local run = tostring(os.time()) .. tostring(math.random(1000000))
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
      '{"labels":{"alertname":"load","n":"%s-%d-%d-%d","severity":"warning"},"annotations":{"summary":"load test alert"}}',
      run, thread_id, counter, i)
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, '[' .. table.concat(alerts, ",") .. ']')
end
