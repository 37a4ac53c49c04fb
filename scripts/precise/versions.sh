# Pinned inputs for scripts/precise/{install,make-fixtures}.sh (sourced, not run).
# Producer versions live in package.json / package-lock.json next to this file.

# (a) TypeScript project: redux 5.0.1 from npm. Its tarball ships the TypeScript
#     sources (src/, 17 .ts files) next to dist/. Parses cleanly with both
#     TypeScript 5.9 (scip-typescript) and 4.1.3 (lsif-tsc).
TS_PKG_SPEC="redux@5.0.1"
TS_PKG_FILE="redux-5.0.1.tgz"
TS_PKG_SHA256="adacd4f8a377e638a3feb568e45e8b8ff22c926516941db25b1acfc34d94398b"
# npm dist.integrity: sha512-M9/ELqF6fy8FwmkpnF0S3YKOqMyoWJ4+CS5Efg2ct3oY9daQvd/Pc71FpGZsVsbl3Cpb+IIcjBDUnnyBdQbq4w==

# (b) Python project: pluggy 1.5.0 from PyPI (pure Python wheel, 8 modules).
PY_PKG_NAME="pluggy"
PY_PKG_VERSION="1.5.0"
PY_PKG_FILE="pluggy-1.5.0-py3-none-any.whl"
PY_PKG_SHA256="44e1ad92c8ca002de6377e165f3e0f1be63266ab4d554740532335b9d75ea669"
