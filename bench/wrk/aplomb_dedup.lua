-- The same alert again and again: the deduplication path.
local key = os.getenv("KEY")
local body = string.format(
  '{"routing_key":"%s","event_action":"trigger","dedup_key":"same","payload":{"summary":"load test alert","source":"wrk","severity":"warning"}}',
  key)
request = function()
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
