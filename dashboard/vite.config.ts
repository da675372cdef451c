import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// `npm run dev` serves the dashboard on its own port and sends the API to a slipway on
// 127.0.0.1:8080 (`make run`); the production build in dist/ is served by slipway itself.
const api = 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [vue()],
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: false },
  server: {
    proxy: {
      '/graphql': { target: api, ws: true },
      '/auth': api,
    },
  },
})
