-- wrk script for bench-latency: each request is GET /search?q=<next prefix>, cycling through
-- the already percent-encoded prefixes of the file named by $WRK_PREFIXES (one a line; each
-- thread starts at its own offset). With no $WRK_PREFIXES it requests wrk's URL as given.
-- At the end it prints the latency percentiles as TSV lines for the bench script to parse.
local prefixes = {}
local i = 0

function setup(thread)
  thread:set("id", tostring(thread))
end

function init(args)
  local path = os.getenv("WRK_PREFIXES")
  if path and path ~= "" then
    for line in io.lines(path) do prefixes[#prefixes + 1] = line end
    if #prefixes > 0 then
      math.randomseed(os.time() + (tonumber(string.match(id or "", "0x(%x+)") or "0", 16) % 100000))
      i = math.random(#prefixes)
    end
  end
end

function request()
  if #prefixes == 0 then return wrk.format() end
  i = i % #prefixes + 1
  return wrk.format("GET", "/search?q=" .. prefixes[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests\t%d\n", summary.requests))
  io.write(string.format("duration_us\t%d\n", summary.duration))
  io.write(string.format("errors\t%d\n", e.connect + e.read + e.write + e.status + e.timeout))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s_us\t%d\n", p, latency:percentile(p)))
  end
  io.write(string.format("max_us\t%d\n", latency.max))
  io.write(string.format("mean_us\t%.1f\n", latency.mean))
end
