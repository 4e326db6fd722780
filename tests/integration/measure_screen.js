() => {
  const out = [];
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  // inside the viewport, and not cut off by the region or column that holds it
  const within = (r, el) => {
    const boxes = [{left: 0, top: 0, right: innerWidth, bottom: innerHeight}];
    for (const sel of [".region", "section", ".tile"]) { const box = el.closest(sel); if (box) boxes.push(box.getBoundingClientRect()); }
    return boxes.every((b) => r.left >= b.left - 1 && r.top >= b.top - 1 && r.right <= b.right + 1 && r.bottom <= b.bottom + 1);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !node.textContent.trim() || el.closest("svg") || el.closest("[hidden]") || !visible(el)) continue;
    if (getComputedStyle(el).display === "none" || el.closest("script, style, title")) continue;
    const r = el.getBoundingClientRect();
    out.push({text: node.textContent.trim().slice(0, 40), px: parseFloat(getComputedStyle(el).fontSize),
              inside: within(r, el)});
  }
  for (const t of document.querySelectorAll("svg text")) {
    const svg = t.ownerSVGElement;
    if (!visible(svg)) continue;
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const r = t.getBoundingClientRect();
    out.push({text: "svg: " + t.textContent.trim().slice(0, 40), px: parseFloat(t.getAttribute("font-size")) * scale,
              inside: within(r, svg)});
  }
  const doc = document.documentElement;
  return {texts: out, scrollHeight: doc.scrollHeight, scrollWidth: doc.scrollWidth, innerHeight, innerWidth};
}
