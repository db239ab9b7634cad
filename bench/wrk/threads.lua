-- Shared by the scripts whose keys must be unique: each wrk thread learns its number (`thread_id`)
-- and counts its requests (`counter`); `run` differs between runs of wrk.
counter = 0
thread_id = 0
run = tostring(os.time()) .. tostring(math.random(1000000))
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
end
