# Sourced by .ci/fuzz and .ci/neon: compiles the kernel files csrc/kernels.txt lists
# for one architecture, each with its own flags, as setup.py does.
#   compile_kernels CC ARCH BASELINE OUTDIR [EXTRA FLAGS...]
# BASELINE is the -march of the `any` files; appends the objects to the array `objs`.
compile_kernels() {
  local cc=$1 arch=$2 baseline=$3 outdir=$4; shift 4
  local file_arch path flags obj
  while read -r file_arch path flags; do
    flags=${flags%%#*}
    case $file_arch in ''|'#'*) continue ;; esac
    if [ "$file_arch" = any ]; then
      flags="$baseline${flags:+ $flags}"
    elif [ "$file_arch" != "$arch" ]; then
      continue
    fi
    obj="$outdir/$(basename "$path" .c).o"
    # shellcheck disable=SC2086  # the flags column is a list of words
    "$cc" "$@" $flags -c "$path" -o "$obj"
    objs+=("$obj")
  done < csrc/kernels.txt
}
