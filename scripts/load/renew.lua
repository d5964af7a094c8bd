-- POST /v1/grants/{id}/renew over the grant ids in the file named by GRANTS.
local ids = {}
local i = 0
function init(args)
  for line in io.lines(os.getenv("GRANTS")) do
    ids[#ids + 1] = line
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  i = i % #ids + 1
  return wrk.format(nil, "/v1/grants/" .. ids[i] .. "/renew", nil, "")
end
