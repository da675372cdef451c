import { createRouter, createWebHistory } from 'vue-router'
import { ensureSession } from './api'
import LoginView from './views/LoginView.vue'
import ProjectsView from './views/ProjectsView.vue'
import ProjectView from './views/ProjectView.vue'
import WorkspaceView from './views/WorkspaceView.vue'

// History mode: slipway answers every path the API does not use with index.html.
export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/projects' },
    { path: '/login', component: LoginView, meta: { public: true, title: 'Log in' } },
    { path: '/projects', component: ProjectsView, meta: { title: 'Projects' } },
    { path: '/projects/:id', component: ProjectView, props: true, meta: { title: 'Project' } },
    { path: '/workspace', component: WorkspaceView, meta: { title: 'Workspace settings' } },
    { path: '/:rest(.*)*', redirect: '/projects' },
  ],
})

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (await ensureSession()) return true
  return { path: '/login', query: { next: to.fullPath } }
})

router.afterEach((to) => {
  document.title = `${(to.meta.title as string) ?? 'slipway'} · slipway`
})
