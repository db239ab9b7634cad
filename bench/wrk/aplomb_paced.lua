-- Like aplomb_distinct.lua, held at RATE events per second in all: run it with one thread
-- (-t1), whose connections share one schedule of evenly spaced send times, so the rate holds
-- whatever the answers' latency (as long as the connections outnumber the requests in flight).
dofile("bench/wrk/aplomb_distinct.lua")
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } aplomb_timespec;
  int clock_gettime(int clock, aplomb_timespec *t);
]]
local interval = 1000 / tonumber(os.getenv("RATE") or "1000")
local t = ffi.new("aplomb_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, t) -- CLOCK_MONOTONIC
  return tonumber(t.tv_sec) * 1000 + tonumber(t.tv_nsec) / 1e6
end
local next_send = 0

-- wrk asks after each answer how long the connection should wait before its next request.
delay = function()
  local now = now_ms()
  next_send = math.max(next_send + interval, now)
  return math.floor(next_send - now + 0.5)
end
