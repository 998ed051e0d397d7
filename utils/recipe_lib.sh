# What every egs/*/run.sh shares, sourced first (relative to run.sh, so from any directory):
#
#   set -euo pipefail
#   . "$(dirname "$0")/utils/recipe_lib.sh"   # the common options and the helpers below
#   stop_stage=12                             # the recipe's own options (and defaults)
#   recipe_enter "$@"                         # cmd.sh, the options; cd into the recipe; path.sh
#   source_conf recipe.conf
#   recipe_jobs                               # nj, device, train_cmd_now, extract_cmd
#
# recipe_enter parses the options (utils/parse_options.sh) where the user is, so "--help" prints
# the leading comment of run.sh from any directory, and refuses stray arguments (naming a --help
# that works from there); everything after it runs in the recipe directory.
#
# Common options (run.sh documents them): --stage N --stop-stage N --nj N --mini true|false
# --mini-scale K --device cpu|cuda --ngpu N --overwrite true|false (the training steps train again
# over a model of other inputs; what is made from a model is redone after it, being older)
# --restart true|false (systems trained by train_system: start over from step 1 when no checkpoint is
# usable, the removed checkpoints said in the log; without it such a training stops, listing them).
#
# A new recipe (say a speaker corpus beside egs/voxceleb): egs/<name>/run.sh (its options and
# stages, from a copy of the nearest recipe's; conf_base=../voxceleb/conf after recipe_enter),
# cmd.sh and path.sh (copies), the links steps, utils and local (-> ../../steps ...),
# conf/corpus.conf, conf/results.conf (the wording of RESULTS.md), the conf files whose settings
# differ, and its data preparation in local/<name>/.
#
# Configuration, one rule for every file: a conf the recipe asks for must exist (else an error
# naming it); with --mini true conf/mini/NAME, where it exists, overrides it.
#   source_conf NAME   shell assignments: conf/NAME, then conf/mini/NAME (--mini true)
#   conf NAME          the path of a program config (--option=value lines): conf/mini/NAME (--mini true)
#                      when it exists, else conf/NAME
#   conf_value FILE OPTION DEFAULT   the value of the last --OPTION=VALUE line of a program config
#   as_list VAR ...    a conf variable given as a string of words becomes an array (an array stays)
#   conf_base=DIR      (set in run.sh after recipe_enter) a NAME, or mini/NAME, that conf/ lacks is
#                      taken from DIR: a new recipe keeps only the conf files it changes, e.g.
#                      conf_base=../voxceleb/conf
# Messages and stages:
#   say TEXT...        "run.sh: TEXT" on stdout
#   run_stage N        true when stage N is in --stage..--stop-stage
#   made_from 'INPUT ...' OUTPUT...   true when the OUTPUTs exist, are non-empty, and were made from these
#                      inputs (corpus directories, with the simulator's seed and scale; option values as
#                      words): a stage's "exists; skipping" must not take outputs of other inputs (python -m
#                      utter.stage --made-from, which says what changed)
#   record_made_from 'INPUT ...' OUTPUT   after making OUTPUT: record what it was made from
#   set_of A B ...     "{A,B}" (a single item as it is), for messages naming several paths
# Corpora (stage 0 and 1):
#   corpus_roots VAR=DIR ...   --mini true: VAR=corpora/DIR of the recipe (the simulator's); else
#                      conf/corpus.conf sets them
#   check_corpora VAR ...      each VAR set (in conf/corpus.conf) and an existing directory
#   corpora_stage WHAT ONLY CHECK ...  stage 0: the simulator's corpora ONLY (--mini true), else
#                      the command CHECK ... (e.g. check_corpora VAR ...)
#   prepare_noise_dirs data/musan_{music,noise,speech} and data/<aug_rirs> (conf/augment.conf), each
#                      when its corpus root (musan_root, rirs_root) is set
#   rir_dirs           the RIR data dirs of aug_rirs, comma-separated (steps/augment_data_dir.sh)
# Pretraining seeds (--pretrain-seeds "S0 S1 ..."; the findings replicate the pretraining): the first
# seed's models are exp/<sys> (the recipe's models, as with one seed), seed S's others exp/<sys>_p<S>.
#   check_pretrain_seeds       pretrain_seeds: distinct non-negative integers (else an error)
#   pretrain_systems SYS...    every system for every pretraining seed, seed by seed: "dino xvector dino_p1 ..."
#   pretrain_seed_of SYS       the pretraining seed of a system of that list
#   pretrain_base SYS          the system it replicates: dino_p3 -> dino
#   pretrain_suffix SYS        "" for the first seed's systems, else _p<S>
#   pretrained_paths SYS REST  exp/SYS/REST,exp/SYS_p<S>/REST,...: one path per pretraining seed, in
#                              seed order (the A and B sides of a finding in conf/results.conf)
# Systems (conf/recipe.conf: systems="KIND:NAME ...", e.g. "dino:dino xvector:xvector ssl:ntxent"): each
# entry is trained by the training program python -m utter.bin.train_<KIND> from conf/<NAME>.conf into
# exp/<NAME>. A downstream recipe (egs/iemocap, egs/adress) transfers some of them: its systems list names
# them by NAME (a KIND:NAME entry copied from egs/voxceleb's list is read as its NAME; the kind is the
# pretraining's business), so a third VoxCeleb system is transferred by adding its NAME there.
#   recipe_systems             check $systems; system_list=those entries, systems=every NAME of every
#                              pretraining seed (old confs' dino_systems/sup_systems are read as dino:/xvector:)
#   system_names ENTRY...      the NAMEs: "dino:dino ssl:ntxent" -> "dino ntxent"
#   systems_of_kind KIND       the NAMEs of system_list trained by train_<KIND> (e.g. the supervised F1 side)
#   kind_of SYS                the KIND of SYS (or of the system SYS replicates: dino_p1 -> dino's)
#   train_system SYS DATA OPTS [STEP OPTIONS]  steps/train_nnet.sh --program train_<kind> with
#                              conf/<base>.conf, the training seed of SYS (and the program options OPTS),
#                              the recipe's jobs, into exp/SYS
# Downstream recipes (egs/iemocap, egs/adress), on the VoxCeleb-pretrained models:
#   downstream_settings        conf/recipe.conf and conf/augment.conf, --seeds, --max-folds and
#                              --pretrain-seeds winning
#   pretrained_systems VAR...  the pretrained-system lists of conf/recipe.conf (systems, then those that
#                              pick among it: ablation_systems ...): each becomes the NAMEs of every
#                              pretraining seed; a NAME of a later list that is not in systems is an error
#   link_pretrained_models     stage 4: exp/pretrained/<sys>/final.pt -> <sys>_model of conf/corpus.conf, else
#                              pretrained_exp/<sys>/final.pt (pretrained_exp: egs/voxceleb/exp, or a copy; --mini
#                              true: conf/mini/pretrained.conf); <sys>_p<S>: <sys>_p<S>_model, by default
#                              exp/<sys>_p<S>/final.pt beside <sys>_model
#   lux_stage N DATA SYSTEMS [FOLDS]  triplet + Barlow Twins + adapter (Lux et al.) and the adapter alone, on the
#                              folds DATA/folds (FOLDS: each system's FOLDS<pretrain_suffix>)
# RESULTS.md:
#   add_result GROUP ROW PROTOCOL JSON   a classification cell in the array specs, when JSON exists (a
#                      skipped.json beside it instead: the row is marked skipped)
#   results_table OUT [OPTS]   utter.bin.make_results_table of the evaluations in the array specs,
#                      worded by conf/results.conf (results_options: the variables it may set); its
#                      array results_findings (paper findings) become the Findings table, first

stage=0
stop_stage=0
nj=
mini=false
mini_scale=1
device=
ngpu=0
overwrite=false
restart=false

# ---------------------------------------------------------------- options and directory
recipe_enter() {  # recipe_enter "$@": no local variables before the options are set
  _rl_last_stage=$stop_stage   # the recipe's default --stop-stage is its last stage
  # cmd.sh first, so that --train-cmd, --cpu-cmd and --gpu-cmd are options too
  # shellcheck disable=SC1091
  . "$(dirname "$0")/cmd.sh"
  # shellcheck disable=SC1091
  . "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
  local help=$0
  [[ $help == */* ]] || help=./$help  # run as "bash run.sh": ./run.sh works where the user is
  if [ $# -ne 0 ]; then
    echo "$0: unexpected arguments: $* (see $help --help)" >&2
    exit 1
  fi
  _rl_check_options "$help"
  cd "$(dirname "$0")"
  _rl_lock
  # a failed stage says which, and how to resume (set -e ends the script through this trap)
  trap '_rl_rc=$?; if [ "$_rl_rc" -eq 130 ] && [ -n "${_rl_stage:-}" ]; then
    echo "$0: stage $_rl_stage interrupted; rerun with --stage $_rl_stage to go on" >&2
  elif [ "$_rl_rc" -ne 0 ] && [ -n "${_rl_stage:-}" ]; then
    echo "$0: stage $_rl_stage failed (exit $_rl_rc); fix the cause and rerun with --stage $_rl_stage" >&2; fi' EXIT
  # shellcheck disable=SC1091
  . ./path.sh
}

_rl_check_options() {  # the common options' values, before anything runs
  local help=$1 var
  for var in stage stop_stage; do
    if ! [[ ${!var} =~ ^[0-9]+$ ]]; then
      echo "$0: --${var//_/-} must be a stage number (0-$_rl_last_stage), got '${!var}' (see $help --help)" >&2
      exit 1
    fi
    if [ "${!var}" -gt "$_rl_last_stage" ]; then
      echo "$0: --${var//_/-} $((10#${!var})): this recipe's stages are 0-$_rl_last_stage (see $help --help)" >&2
      exit 1
    fi
  done
  if [ "$((10#$stage))" -gt "$((10#$stop_stage))" ]; then
    echo "$0: --stage $stage is after --stop-stage $stop_stage: nothing would run" >&2; exit 1
  fi
  if [ -n "$nj" ] && ! [[ $nj =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: --nj must be a positive integer, got '$nj'" >&2; exit 1
  fi
  if ! [[ $ngpu =~ ^[0-9]+$ ]]; then
    echo "$0: --ngpu must be a non-negative integer, got '$ngpu'" >&2; exit 1
  fi
  if ! [[ $mini_scale =~ ^([0-9]+([.][0-9]+)?|small)$ ]]; then
    echo "$0: --mini-scale must be a number (or small), got '$mini_scale'" >&2; exit 1
  fi
}

_rl_lock() {  # one run.sh per recipe dir: a second is refused with the first one's pid and start time
  exec {_rl_lock_fd}>> .run.lock
  if ! flock -n "$_rl_lock_fd"; then
    echo "$0: another run.sh is running in $PWD ($(cat .run.lock 2> /dev/null || echo "pid unknown")): wait" \
         "for it to end, or stop it, then rerun" >&2
    exit 1
  fi
  echo "pid $$, started $(date '+%Y-%m-%d %H:%M:%S')" > .run.lock
}

# ---------------------------------------------------------------- configuration
_conf_file() {  # _conf_file NAME: conf/NAME, else $conf_base/NAME; fails when neither exists
  local _rl_dir
  for _rl_dir in conf ${conf_base:+"$conf_base"}; do
    if [ -f "$_rl_dir/$1" ]; then echo "$_rl_dir/$1"; return 0; fi
  done
  return 1
}
_no_conf() {
  echo "$0: no such config conf/$1${conf_base:+ (nor $conf_base/$1)} in $PWD" >&2
}
source_conf() {  # source_conf NAME: conf/NAME (required), then conf/mini/NAME with --mini true
  local _rl_file
  _rl_file=$(_conf_file "$1") || { _no_conf "$1"; exit 1; }
  # shellcheck disable=SC1090
  . "$_rl_file"
  if $mini && _rl_file=$(_conf_file "mini/$1"); then
    # shellcheck disable=SC1090
    . "$_rl_file"
  fi
  return 0
}
conf() {  # conf NAME: conf/mini/NAME (--mini true, when it exists), else conf/NAME (required)
  local _rl_file
  if $mini && _rl_file=$(_conf_file "mini/$1"); then echo "$_rl_file"; return 0; fi
  _rl_file=$(_conf_file "$1") || { _no_conf "$1"; return 1; }
  echo "$_rl_file"
}
conf_value() {  # conf_value FILE OPTION DEFAULT: the value of the last --OPTION=VALUE line of a program config
  local _rl_v
  _rl_v=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$1" | sed -n "s/^[[:space:]]*--$2=//p" | tail -n 1)
  echo "${_rl_v:-$3}"
}
as_list() {  # as_list VAR...: a conf variable given as a string ("a b") becomes the array (a b); an array stays
  local _rl_var
  for _rl_var in "$@"; do
    if [[ "$(declare -p "$_rl_var" 2> /dev/null)" != "declare -a"* ]]; then
      read -r -a "${_rl_var?}" <<< "${!_rl_var:-}"
    fi
  done
}

recipe_jobs() {  # after conf/recipe.conf: nj (default_nj), device, train_cmd_now, extract_cmd
  nj=${nj:-$default_nj}
  if [ -z "$device" ]; then
    if [ "$ngpu" -gt 0 ]; then device=cuda; else device=cpu; fi
  fi
  case $device in cpu|cuda|cuda:*) ;; *) echo "$0: --device must be cpu or cuda, got '$device'" >&2; exit 1 ;; esac
  train_cmd_now=$train_cmd
  if [ "$ngpu" -gt 0 ]; then train_cmd_now=$gpu_cmd; fi
  extract_cmd=$cpu_cmd
  if [ "$device" != cpu ]; then extract_cmd=$gpu_cmd; fi
}

# ---------------------------------------------------------------- messages and stages
say() { echo "$0: $*"; }
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ] && _rl_stage=$1; }
made_from() { python -m utter.stage --quiet --what "$0" --made-from "$1" "${@:2}"; }
record_made_from() { python -m utter.stage --record "$1" "${@:2}"; }
set_of() { if [ $# -gt 1 ]; then local IFS=,; echo "{$*}"; else echo "$*"; fi; }  # a b -> {a,b}; a -> a

# ---------------------------------------------------------------- corpora
corpus_roots() {  # corpus_roots VAR=DIR ...: the simulator's corpora/DIR (--mini true), else conf/corpus.conf
  local _rl_item
  if $mini; then
    for _rl_item in "$@"; do printf -v "${_rl_item%%=*}" '%s' "$PWD/corpora/${_rl_item#*=}"; done
  else
    source_conf corpus.conf
  fi
}
check_corpora() {  # check_corpora VAR ...: each set in conf/corpus.conf, to a directory
  local var
  for var in "$@"; do
    if [ -z "${!var:-}" ]; then
      echo "$0: $var is not set in $PWD/conf/corpus.conf: set it to your copy of the corpus" \
           "(or run with --mini true for the simulated corpora)" >&2
      exit 1
    fi
    if [ ! -d "${!var}" ]; then
      echo "$0: $var=${!var} (conf/corpus.conf): no such directory" >&2; exit 1
    fi
  done
}
corpora_stage() {  # corpora_stage WHAT ONLY CHECK...: stage 0 (the "done" line is the recipe's)
  local what=$1 only=$2
  shift 2
  if $mini; then
    say "stage 0: building the simulated $what in corpora/ (scale $mini_scale)"
    local/mini/make_mini_corpora.sh --seed "$mini_corpus_seed" --scale "$mini_scale" \
      --only "$only" --nj "$nj" corpora
  else
    say "stage 0: checking the corpus paths of conf/corpus.conf"
    "$@"
  fi
}
prepare_noise_dirs() {  # data/musan_{music,noise,speech}, data/<aug_rirs>: made unless they exist (an unset root: none)
  local rooms
  if [ -z "${musan_root:-}" ]; then :
  elif [ -s data/musan_speech/wav.scp ] && made_from "$musan_root" data/musan_speech/wav.scp; then
    say "data/musan_{music,noise,speech} exist; skipping"
  else
    rm -rf data/musan_music data/musan_noise data/musan_speech
    local/musan/prepare_data.sh "$musan_root" data
    record_made_from "$musan_root" data/musan_speech/wav.scp
  fi
  [ -n "${rirs_root:-}" ] || return 0
  rooms=$(for r in $aug_rirs; do echo "${r#rirs_}"; done | tr '\n' ' ')
  if [ -s "data/${aug_rirs##* }/wav.scp" ] && made_from "$rirs_root $rooms" "data/${aug_rirs##* }/wav.scp"; then
    # shellcheck disable=SC2086
    say "data/$(set_of $aug_rirs) exist; skipping"
  else
    for r in $aug_rirs; do rm -rf "data/$r"; done
    local/rirs/prepare_data.sh --rooms "$rooms" "$rirs_root" data
    record_made_from "$rirs_root $rooms" "data/${aug_rirs##* }/wav.scp"
  fi
}
rir_dirs() { for r in $aug_rirs; do echo "data/$r"; done | paste -sd, -; }

# ---------------------------------------------------------------- pretraining seeds
check_pretrain_seeds() {
  local p seen=" "
  [ -n "${pretrain_seeds// /}" ] || { echo "$0: --pretrain-seeds is empty: give at least one seed" >&2; exit 1; }
  for p in $pretrain_seeds; do
    if ! [[ $p =~ ^[0-9]+$ ]]; then
      echo "$0: --pretrain-seeds must be non-negative integers, got '$pretrain_seeds'" >&2; exit 1
    fi
    if [[ $seen == *" $p "* ]]; then echo "$0: --pretrain-seeds '$pretrain_seeds' repeats $p" >&2; exit 1; fi
    seen="$seen$p "
  done
}
pretrain_systems() {
  local p s first=${pretrain_seeds%% *} out=()
  for p in $pretrain_seeds; do
    for s in "$@"; do
      if [ "$p" = "$first" ]; then out+=("$s"); else out+=("${s}_p$p"); fi
    done
  done
  echo "${out[*]}"
}
pretrain_seed_of() { if [[ $1 =~ _p([0-9]+)$ ]]; then echo "${BASH_REMATCH[1]}"; else echo "${pretrain_seeds%% *}"; fi; }
pretrain_base() { if [[ $1 =~ ^(.*)_p[0-9]+$ ]]; then echo "${BASH_REMATCH[1]}"; else echo "$1"; fi; }
pretrain_suffix() { if [[ $1 =~ (_p[0-9]+)$ ]]; then echo "${BASH_REMATCH[1]}"; fi; }
pretrained_paths() {
  local sys out=()
  for sys in $(pretrain_systems "$1"); do out+=("exp/$sys/$2"); done
  local IFS=,; echo "${out[*]}"
}

# ---------------------------------------------------------------- systems: KIND:NAME entries
system_names() { local e; for e in "$@"; do echo -n "${e#*:} "; done | sed 's/ $//'; }
recipe_systems() {  # after conf/recipe.conf and check_pretrain_seeds
  local e legacy=()
  for e in ${dino_systems:-}; do legacy+=("dino:$e"); done   # the confs before the systems list
  for e in ${sup_systems:-}; do legacy+=("xvector:$e"); done
  if [ ${#legacy[@]} -gt 0 ]; then
    say "conf/recipe.conf: dino_systems/sup_systems are read as systems=\"${legacy[*]}\" (write that instead)"
    systems="${systems:+$systems }${legacy[*]}"
  fi
  [ -n "${systems// /}" ] || { echo "$0: systems is empty in conf/recipe.conf: name at least one KIND:NAME" >&2; exit 1; }
  for e in $systems; do
    if ! [[ $e =~ ^[a-z0-9_]+:[A-Za-z0-9_.-]+$ ]]; then
      echo "$0: systems entry '$e' (conf/recipe.conf) is not KIND:NAME (e.g. dino:dino: trained by" \
           "python -m utter.bin.train_dino from conf/dino.conf)" >&2; exit 1
    fi
  done
  system_list=$systems
  # shellcheck disable=SC2046
  systems=$(pretrain_systems $(system_names $system_list))
}
systems_of_kind() {
  local e out=()
  for e in ${system_list:-}; do [ "${e%%:*}" = "$1" ] && out+=("${e#*:}"); done
  echo "${out[*]}"
}
kind_of() {
  local e base
  base=$(pretrain_base "$1")
  for e in ${system_list:-}; do
    if [ "${e#*:}" = "$base" ]; then echo "${e%%:*}"; return 0; fi
  done
  echo "$0: system $1 is not in systems=\"${system_list:-}\" (conf/recipe.conf)" >&2; exit 1
}
train_system() {  # train_system SYS DATA "MORE PROGRAM OPTIONS" [steps/train_nnet.sh options]
  local sys=$1 data=$2 opts=$3 kind cfg
  shift 3
  kind=$(kind_of "$sys")
  cfg=$(conf "$(pretrain_base "$sys").conf")
  say "stage ${_rl_stage:-?}: training exp/$sys (train_$kind, $cfg, seed $(pretrain_seed_of "$sys")) on $data"
  steps/train_nnet.sh --program "train_$kind" --cmd "$train_cmd_now" --ngpu "$ngpu" --device "$device" \
    --num-threads "$train_threads" --num-workers "${train_workers:-0}" --overwrite "$overwrite" --restart "$restart" \
    --train-config "$cfg" --train-opts "--seed $(pretrain_seed_of "$sys")${opts:+ $opts}" "$@" "$data" "exp/$sys"
}

# ---------------------------------------------------------------- downstream recipes
downstream_settings() {  # conf/{recipe,augment}.conf; --seeds, --max-folds win; ft_max_folds, seed_list
  local cli_seeds=$seeds cli_max_folds=$max_folds cli_pretrain_seeds=$pretrain_seeds
  source_conf recipe.conf
  source_conf augment.conf
  seeds=${cli_seeds:-$seeds}
  max_folds=${cli_max_folds:-$max_folds}
  pretrain_seeds=${cli_pretrain_seeds:-${pretrain_seeds:-0}}
  check_pretrain_seeds
  # the training stages (per fold): --max-folds, else finetune_max_folds, else max_folds
  ft_max_folds=${cli_max_folds:-${finetune_max_folds:-$max_folds}}
  # shellcheck disable=SC2086
  seed_list=$(echo $seeds | tr ' ' ',')
  recipe_jobs
  say "mini=$mini nj=$nj device=$device ngpu=$ngpu seeds='$seeds' pretrain_seeds='$pretrain_seeds'" \
      "max_folds=$max_folds (training stages: $ft_max_folds) stages $stage..$stop_stage"
}

pretrained_systems() {  # pretrained_systems VAR...: the first VAR (systems) names them; the others pick among it
  local var e names known=
  for var in "$@"; do
    # shellcheck disable=SC2086
    names=$(system_names ${!var:-})   # KIND:NAME -> NAME; a bare NAME stays
    if [ -z "$known" ]; then
      [ -n "${names// /}" ] || { echo "$0: $var is empty in conf/recipe.conf: name a pretrained system" >&2; exit 1; }
      known=" $names "
    fi
    for e in $names; do
      if [[ $known != *" $e "* ]]; then
        echo "$0: $var names '$e', which is not among the pretrained systems ($1=\"${known:1:-1}\", conf/recipe.conf)" >&2
        exit 1
      fi
    done
    # shellcheck disable=SC2086
    printf -v "$var" '%s' "$(pretrain_systems $names)"
  done
}

link_pretrained_models() {  # stage 4: exp/pretrained/<sys>/final.pt -> <sys>_model, for sys in $systems
  local sys var model base
  say "stage 4: pretrained VoxCeleb models for $systems"
  for sys in $systems; do
    var=${sys}_model
    model=
    [[ $var =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && model=${!var:-}
    base=$(pretrain_base "$sys")
    if [ -z "$model" ] && [ "$base" != "$sys" ] && [[ ${base}_model =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
      var=${base}_model   # another pretraining seed: beside the first's
      model=${!var:-}
      [ -n "$model" ] && model=$(dirname "$(dirname "$model")")/$sys/$(basename "$model")
    fi
    if [ -z "$model" ] && [ -n "${pretrained_exp:-}" ]; then model=$pretrained_exp/$sys/final.pt; fi
    if [ -z "$model" ]; then
      echo "$0: neither $var nor pretrained_exp is set in $PWD/conf/corpus.conf: set $var to the VoxCeleb" \
           "$sys model, or pretrained_exp to the directory holding $sys/final.pt (egs/voxceleb/exp after" \
           "egs/voxceleb/run.sh), or run with --mini true" >&2
      exit 1
    fi
    if [ ! -f "$model" ] && $mini; then
      say "$model is absent: building the mini VoxCeleb models with" \
          "'$voxceleb_recipe/run.sh $voxceleb_args --stop-stage 5' (about 10-15 minutes on 2 cores)"
      # shellcheck disable=SC2086
      (cd "$voxceleb_recipe" && ./run.sh $voxceleb_args --nj "$nj" --pretrain-seeds "$pretrain_seeds" --stop-stage 5)
    fi
    if [ ! -f "$model" ]; then
      echo "$0: $model: no such file (the $sys model: $var or pretrained_exp of conf/corpus.conf)" >&2; exit 1
    fi
    mkdir -p "exp/pretrained/$sys"
    ln -sfn "$(cd "$(dirname "$model")" && pwd)/$(basename "$model")" "exp/pretrained/$sys/final.pt"
    say "exp/pretrained/$sys/final.pt -> $model"
  done
  say "stage 4: done: $(for s in $systems; do echo -n "exp/pretrained/$s/final.pt "; done)"
}

lux_stage() {  # lux_stage N DATA "SYSTEMS" [FOLDS]: step 1 and 2 of Lux et al., and the adapter without step 1
  local n=$1 data=$2 sys folds_opt=
  local opts
  for sys in $3; do
    [ -n "${4:-}" ] && folds_opt=" --folds-dir $4$(pretrain_suffix "$sys")"
    opts=(--cmd "$train_cmd_now" --train-config "$(conf triplet_barlow.conf)" --opts "--max-folds $ft_max_folds$folds_opt"
          --device "$device" --num-threads "$train_threads")
    say "stage $n: $sys step 1, triplet + Barlow Twins fine-tuning per fold ($(conf triplet_barlow.conf))"
    steps/train_triplet_barlow.sh "${opts[@]}" "exp/pretrained/$sys/final.pt" "$data" "exp/$sys/lux/triplet_barlow"
    say "stage $n: $sys step 2, adapter on the frozen step-1 network of each fold"
    steps/train_adapter.sh "${opts[@]}" --seeds "$seed_list" "exp/$sys/lux/triplet_barlow" "$data" "exp/$sys/lux/adapter"
    say "stage $n: $sys adapter on the frozen pretrained network (no step 1)"
    steps/train_adapter.sh "${opts[@]}" --seeds "$seed_list" "exp/pretrained/$sys/final.pt" "$data" \
      "exp/$sys/lux/adapter_pretrained"
  done
  # shellcheck disable=SC2086
  say "stage $n: done: exp/$(set_of $3)/lux/{triplet_barlow,adapter,adapter_pretrained}/results.json"
}

# ---------------------------------------------------------------- RESULTS.md
add_result() {  # add_result GROUP ROW PROTOCOL JSON: a table cell, when that evaluation was run
  local skipped
  skipped=$(dirname "$4")/skipped.json
  if [ -f "$4" ]; then
    specs+=("$1:$2:$3=$4")
  elif [ -f "$skipped" ]; then
    specs+=("$1:$2:$3=$skipped"); say "$2 ($3) was skipped ($skipped): marked so in RESULTS.md"
  else
    say "no $4 (stage not run): left out of RESULTS.md"
  fi
}

# results_options: the array results_opts, the make_results_table options of the recipe's wording:
# conf/results.conf (source_conf: conf/mini/results.conf overrides it), sourced here, so that it may
# name the recipe's settings ($seed_list ...) and $conf_dirs ("conf/", or "conf/ and conf/mini/"
# with --mini true): results_title, results_intro, results_notes,
# results_metrics, results_published (a TSV of published figures, or empty), the arrays
# results_headings (KEY=TEXT, one table each, in order), results_systems (SYSTEM=LABEL, {net} the
# network, rows in order) and results_nets (SYSTEM=NET), and results_<section>_heading for the
# sections calibrated, pseudo, quality and published.
results_options() {
  local _rl_item _rl_var
  results_headings=(); results_systems=(); results_nets=(); results_findings=(); results_opts=()
  conf_dirs=conf/
  if $mini; then conf_dirs="conf/ and conf/mini/"; fi
  source_conf results.conf
  for _rl_item in title intro notes metrics published {findings,calibrated,pseudo,quality,published}-heading; do
    _rl_var=results_${_rl_item//-/_}
    if [ -n "${!_rl_var:-}" ]; then results_opts+=("--$_rl_item" "${!_rl_var}"); fi
  done
  for _rl_item in "${results_headings[@]}"; do results_opts+=(--heading "$_rl_item"); done
  for _rl_item in "${results_systems[@]}"; do results_opts+=(--system-label "$_rl_item"); done
  for _rl_item in "${results_nets[@]}"; do results_opts+=(--system-net "$_rl_item"); done
}
# results_table OUT [make_results_table options]: OUT from the evaluations in the array specs
results_table() {
  local _rl_out=$1
  shift
  results_options
  if [ ${#results_findings[@]} -gt 0 ]; then  # the paper findings first: exp/findings.{md,json}
    python -m utter.bin.make_findings --out exp/findings.md --json exp/findings.json --simulated "$mini" \
      "${results_findings[@]}" |
      while read -r _rl_line; do say "$_rl_line"; done
    results_opts+=(--findings exp/findings.md)
  fi
  python -m utter.bin.make_results_table "${results_opts[@]}" "$@" "$_rl_out" "${specs[@]}"
}
