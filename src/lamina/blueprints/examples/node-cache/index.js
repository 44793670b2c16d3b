// Work done outside the handler runs once per execution environment (the cold start); what it
// keeps is there for every warm invocation after, and gone when a new environment starts.
const startedAt = new Date().toISOString();
const cache = new Map();
let invocations = 0;

exports.handler = async (event) => {
  invocations += 1;
  const key = event.key || "default";
  const hit = cache.has(key);
  if (!hit) cache.set(key, `computed at invocation ${invocations}`);
  return { environmentStartedAt: startedAt, invocations, key, hit, value: cache.get(key) };
};
