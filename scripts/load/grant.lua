-- POST /v1/grants for a new instance each time (hostname from a counter).
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"product":"vdp","hostname":"load-%d-%d","port":9999,"cores":1}', id, counter)
  return wrk.format(nil, "/v1/grants", nil, body)
end
