-- Wrong passwords posted to the login form, each for another made-up account (so the
-- per-account limit is not what stops them), each connection pausing FLOOD_DELAY_MS between
-- requests (66 ms on 8 connections is about 120 a second, the flood the issue measured). Each
-- carries a login form's CSRF token in its field and its cookie, so the password is checked.
dofile("bench/wrk/threads.lua")
local pause = tonumber(os.getenv("FLOOD_DELAY_MS") or "66")

request = function()
  counter = counter + 1
  local body = string.format("username=guess-%d-%d&password=wrong-%d&next=%%2Fincidents&csrf=flood",
    thread_id, counter % 1000, counter)
  return wrk.format("POST", "/login", {["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "aplomb_login=flood"}, body)
end

delay = function()
  return pause
end
