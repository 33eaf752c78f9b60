-- Argo CD resource health check for sluice.dev Rollouts.
-- Install it under resource.customizations.health.sluice.dev_Rollout in
-- argocd-cm (see config/argocd/argocd-cm.yaml). Argo CD then shows a
-- rollout that waits at a pause or an approval gate as Suspended, an
-- aborted one as Degraded, and a promoted one as Healthy.
local hs = { status = "Progressing", message = "waiting for the sluice controller to report" }
if obj.status == nil then
  return hs
end
local st = obj.status
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  if st.observedGeneration == nil or st.observedGeneration < obj.metadata.generation then
    hs.message = "sluice has not observed generation " .. obj.metadata.generation .. " yet"
    return hs
  end
end
if st.conditions ~= nil then
  for _, c in ipairs(st.conditions) do
    if c.type == "Stalled" and c.status == "True" then
      hs.status = "Degraded"
      hs.message = c.message or "stalled"
      return hs
    end
  end
end
local message = st.message or ""
if st.phase == "Healthy" then
  hs.status = "Healthy"
elseif st.phase == "Degraded" then
  hs.status = "Degraded"
elseif st.phase == "Paused" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
if message ~= "" then
  hs.message = message
else
  hs.message = "phase " .. (st.phase or "unknown")
end
return hs
