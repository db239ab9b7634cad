-- An Alertmanager webhook notification of 100 firing alerts per request, each alert new.
local key = os.getenv("KEY")
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
      '{"status":"firing","labels":{"alertname":"load","n":"%s-%d-%d-%d","severity":"warning"},"annotations":{"summary":"load test alert"},"fingerprint":"f%s-%d-%d-%d"}',
      run, thread_id, counter, i, run, thread_id, counter, i)
  end
  local body = '{"version":"4","status":"firing","receiver":"aplomb","groupKey":"{}:{}","alerts":[' ..
    table.concat(alerts, ",") .. ']}'
  return wrk.format("POST", "/integrations/alertmanager/" .. key, {["Content-Type"] = "application/json"}, body)
end
