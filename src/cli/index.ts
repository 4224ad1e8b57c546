// placeholder until the CLI lands
console.error('tollgate: not built yet'); process.exit(2);
