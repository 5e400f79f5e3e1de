// Types for the ES module build of wgsl_reflect, which the package ships without a .d.ts beside it.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
