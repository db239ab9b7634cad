-- One alert per request to Alertmanager's API, each with new labels.
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
  local body = string.format(
    '[{"labels":{"alertname":"load","n":"%d-%d","severity":"warning"},"annotations":{"summary":"load test alert"}}]',
    thread_id, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
