// Node module-resolution hook (module.register): TypeScript files outside node_modules are ES modules.
// csrun's own sources and user model directories are written with `import`/`export`; without this, tsx
// would compile a .ts file as CommonJS when its nearest package.json lacks "type": "module", and its
// `import … from 'csrun'` would then fail as a require() of an ES module.
export async function resolve(specifier, context, nextResolve) {
  const r = await nextResolve(specifier, context);
  if (r.url.startsWith('file:') && /\.(ts|mts|tsx)$/.test(r.url) && !r.url.includes('/node_modules/')) return { ...r, format: 'module' };
  return r;
}
