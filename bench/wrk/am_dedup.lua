-- The same alert again and again to Alertmanager.
local body = '[{"labels":{"alertname":"load","n":"same","severity":"warning"},"annotations":{"summary":"load test alert"}}]'
request = function()
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
