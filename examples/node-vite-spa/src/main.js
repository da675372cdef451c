// Routing happens here, in the browser: the server answers every path with index.html.
const path = window.location.pathname;
document.querySelector('#app').textContent = `hello from node-vite-spa at ${path}`;
