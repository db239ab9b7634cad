-- 100 alerts per request to Alertmanager's API, each with new labels.
dofile("bench/wrk/threads.lua")

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
