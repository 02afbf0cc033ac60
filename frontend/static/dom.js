// One way to build DOM nodes for every module of the UI: attributes and text are set as
// properties and textContent, never parsed as HTML (server and provider text included).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// A refused fetch() in words: the server's `detail` when it sent JSON, else the status.
export async function errorText(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
  } catch { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}
