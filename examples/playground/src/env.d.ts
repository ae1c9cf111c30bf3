// vite.config.js serves the repository README's first ```ts block as this module (it runs on import).
declare module 'virtual:readme-example' {}
