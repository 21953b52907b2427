-- Argo CD health check for pggat.dev/PgPool (Argo CD runs it with Lua 5.1; `obj` is the live object).
--   Healthy     the Ready condition is True and the status describes the current spec (observedGeneration)
--   Degraded    the Stalled condition is True for the current spec: the operator cannot progress without a change
--   Progressing everything else: no status yet, a status for an older spec, a rollout or a wait under way
local hs = {}

local function condition(conditions, wanted)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

-- A condition set for an older spec says nothing about the current one.
local function current(c, generation)
  return generation == nil or c.observedGeneration == nil or c.observedGeneration >= generation
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the pggat operator to report status"
  return hs
end

local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the pggat operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = obj.status.conditions
local stalled = condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" and current(stalled, generation) then
  hs.status = "Degraded"
  hs.message = stalled.message or stalled.reason or "Stalled"
  return hs
end

local ready = condition(conditions, "Ready")
if ready ~= nil and ready.status == "True" and current(ready, generation) then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end

hs.status = "Progressing"
local reconciling = condition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" and reconciling.message ~= nil then
  hs.message = reconciling.message
elseif ready ~= nil and ready.message ~= nil then
  hs.message = ready.message
else
  hs.message = "Waiting for the PgPool to become ready"
end
return hs
