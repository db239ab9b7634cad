-- Reading one incident as a client does: GET the incident, then its timeline (INCIDENT's 50
-- entries), alternately, with the bench's admin token.
local incident = os.getenv("INCIDENT")
local paths = {"/api/v1/incidents/" .. incident, "/api/v1/incidents/" .. incident .. "/timeline?limit=50"}
local n = 0

request = function()
  n = n + 1
  return wrk.format("GET", paths[n % 2 + 1], {["Authorization"] = "Bearer bench"})
end
