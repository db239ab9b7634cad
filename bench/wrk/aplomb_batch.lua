-- An Alertmanager webhook notification of 100 firing alerts per request, each alert new.
local key = os.getenv("KEY")
dofile("bench/wrk/threads.lua")

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
