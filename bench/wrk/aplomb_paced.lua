-- Like aplomb_distinct.lua, each connection pausing PACE_MS between requests: ingestion held
-- at a chosen rate (connections × 1000 / PACE_MS events per second, at most).
dofile("bench/wrk/aplomb_distinct.lua")
local pace = tonumber(os.getenv("PACE_MS") or "10")

delay = function()
  return pace
end
