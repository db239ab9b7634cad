// The public status page reloads when it has news: one small request every 20 s, answered
// from memory.
(() => {
  const overall = document.getElementById("overall");
  if (!overall) return;
  const shown = overall.dataset.updated;
  setInterval(async () => {
    try {
      const r = await fetch("/status/api/v2/status.json", { cache: "no-cache" });
      const j = await r.json();
      if (j.page.updated_at !== shown) location.reload();
    } catch (_) {}
  }, 20000);
})();
