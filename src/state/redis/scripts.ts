/**
 * The Lua scripts behind every read-modify-write of the Redis state. Each runs atomically, reads
 * the time with Redis `TIME` (never the caller's clock, so instances with skewed clocks agree), and
 * leaves a TTL on every key it writes (SPEC fault D2: a flushed or failed-over Redis must not leave
 * counters or cooldowns stuck). Scripts that build key names from a prefix (breaker `getAll`)
 * assume a single Redis, not Redis Cluster.
 */

/** `local now` in ms from Redis TIME (seconds, microseconds). */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * The bucketed sliding window of state/window.ts. KEYS[1]: a hash bucket → units.
 * ARGV: mode ('acquire' | 'add' | 'peek'), limit, windowMs, cost. Returns {ok, total, retryAfterMs}.
 */
export const RATE = `${NOW}
local mode = ARGV[1]
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local width = math.max(1, math.ceil(window / 60))
local oldest = math.floor((now - window) / width)
local flat = redis.call('HGETALL', KEYS[1])
local total = 0
local live = {}
for i = 1, #flat, 2 do
  local b = tonumber(flat[i])
  if b < oldest then
    redis.call('HDEL', KEYS[1], flat[i])
  else
    local v = tonumber(flat[i + 1])
    total = total + v
    live[#live + 1] = { b, v }
  end
end
if total < 0 then total = 0 end
if mode == 'peek' then return { 1, total, 0 } end
if mode == 'acquire' and limit >= 0 and total + cost > limit then
  local retry = window
  if cost <= limit then
    table.sort(live, function(x, y) return x[1] < y[1] end)
    local need = total + cost - limit
    local freed = 0
    for _, e in ipairs(live) do
      freed = freed + e[2]
      if freed >= need then
        retry = math.max(1, (e[1] + 1) * width + window - now)
        break
      end
    end
  end
  return { 0, total, retry }
end
redis.call('HINCRBY', KEYS[1], math.floor(now / width), cost)
redis.call('PEXPIRE', KEYS[1], window + 2 * width)
total = total + cost
if total < 0 then total = 0 end
return { 1, total, 0 }`;

/** KEYS[1]: a day counter. ARGV: mode ('acquire' | 'add'), limit, cost, ttlSeconds. Returns {ok, count}. */
export const DAY = `local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
if ARGV[1] == 'acquire' and limit >= 0 and c + cost > limit then return { 0, c } end
c = c + cost
if c < 0 then c = 0 end
redis.call('SET', KEYS[1], c, 'EX', tonumber(ARGV[4]))
return { 1, c }`;

/**
 * KEYS[1]: a sorted set lease → expiry (ms). ARGV: mode ('acquire' | 'release' | 'count'), limit,
 * ttlMs, lease. Expired leases are dropped first. Returns {ok, count}.
 */
export const INFLIGHT = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local mode = ARGV[1]
if mode == 'release' then
  redis.call('ZREM', KEYS[1], ARGV[4])
  return { 1, redis.call('ZCARD', KEYS[1]) }
end
local c = redis.call('ZCARD', KEYS[1])
if mode == 'count' then return { 1, c } end
local limit = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
if limit >= 0 and c >= limit then return { 0, c } end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return { 1, c + 1 }`;

/**
 * KEYS[1]: the breaker's key, KEYS[2]: the index (sorted set id → expiry). ARGV: id, snapshot
 * ('' = delete), ttlMs, channel, message. Publishes the message so other instances hear at once.
 */
export const BREAKER_SET = `${NOW}
local ttl = tonumber(ARGV[3])
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`;

/** KEYS[1]: the index. ARGV: the breaker key prefix. Returns {id1, snapshot1, id2, …} of live entries. */
export const BREAKER_ALL = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
  end
end
return out`;

/** KEYS[1]: a counter. ARGV: ttlMs. Returns the position before the increment (0, 1, 2, …). */
export const ROUND_ROBIN = `local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return n - 1`;
