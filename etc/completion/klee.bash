# bash completion for klee (installed as share/bash-completion/completions/klee).
# Commands and options are read from klee's own --help, so they never go stale; container,
# image, network and volume names are asked of kleened (klee ... ls --format).

# The global options that take a value.
_klee_global_value_opts='--host -H --config --theme --tlscert --tlskey --tlscacert'

# "Commands:" and "Shortcuts:" of `klee ARGS --help`.
_klee_commands() {
  klee "$@" --help 2>/dev/null | awk '/^(Commands|Shortcuts):/ { f = 1; next } /^[^ ]/ { f = 0 } f && /^  [a-z]/ { print $1 }'
}

# Every -x and --long option of `klee ARGS --help`.
_klee_options() {
  klee "$@" --help 2>/dev/null | awk '/^Options:/ { f = 1; next } /^[^ ]/ { f = 0 }
    f && /^  -/ { for (i = 1; i <= NF; i++) { w = $i; sub(/[,=].*$/, "", w); if (w ~ /^-/) print w } }'
}

# Names of one kind of object (container, image, network, volume), from kleened.
_klee_names() {
  local conn=("${_klee_conn[@]}")
  case $1 in
    container) klee "${conn[@]}" container ls -a --format '{{.name}}' 2>/dev/null ;;
    image) klee "${conn[@]}" image ls --format '{{.name}}:{{.tag}}' 2>/dev/null | grep -v '^:$' ;;
    network) klee "${conn[@]}" network ls --format '{{.name}}' 2>/dev/null ;;
    volume) klee "${conn[@]}" volume ls --format '{{.name}}' 2>/dev/null ;;
  esac
}

_klee() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local i w path=() _klee_conn=() skip=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if ((skip)); then skip=0; _klee_conn+=("$w"); continue; fi
    if [[ ${#path[@]} -eq 0 && " $_klee_global_value_opts " == *" $w "* ]]; then
      skip=1; _klee_conn+=("$w"); continue
    fi
    [[ $w == -* ]] && continue
    if [[ ${#path[@]} -eq 0 ]]; then
      path=("$w")
    else
      path+=("$w")
    fi
  done
  # the value of a global option
  if [[ ${#path[@]} -eq 0 ]]; then
    case $prev in
      --config | --tlscert | --tlskey | --tlscacert) COMPREPLY=($(compgen -f -- "$cur")); return ;;
      --theme) COMPREPLY=($(compgen -W 'fancy simple' -- "$cur")); return ;;
      --host | -H) return ;;
    esac
  fi
  if [[ $cur == -* ]]; then
    local cmdpath=("${path[@]:0:2}")
    [[ " container image network volume system " == *" ${path[0]} "* ]] || cmdpath=("${path[@]:0:1}")
    COMPREPLY=($(compgen -W "$(_klee_options "${cmdpath[@]}")" -- "$cur"))
    return
  fi
  if [[ ${#path[@]} -eq 0 ]]; then
    COMPREPLY=($(compgen -W "$(_klee_commands)" -- "$cur"))
    return
  fi
  local group=${path[0]} cmd=${path[1]:-} nargs
  case $group in
    container | image | network | volume | system)
      if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$(_klee_commands "$group")" -- "$cur"))
        return
      fi
      nargs=$((${#path[@]} - 2)) ;;
    *)
      # a shortcut: what it stands for
      nargs=$((${#path[@]} - 1))
      case $group in
        is?) cmd=inspect ;;
        ls?) cmd=ls ;;
        rm?) cmd=rm ;;
        build) cmd=build ;;
        version) cmd=version ;;
        *) cmd=$group ;;
      esac
      case $group in
        ?sc | ?mc | create | exec | restart | run | start | stop | logs | kill | wait | cp) group=container ;;
        ?si | ?mi | build) group=image ;;
        ?sn | ?mn) group=network ;;
        ?sv | ?mv) group=volume ;;
        version) group=system ;;
        *) return ;;
      esac ;;
  esac
  case $group:$cmd in
    image:build) COMPREPLY=($(compgen -d -- "$cur")) ;;
    container:create | container:run) ((nargs == 0)) && COMPREPLY=($(compgen -W "$(_klee_names image)" -- "$cur")) ;;
    container:exec) ((nargs == 0)) && COMPREPLY=($(compgen -W "$(_klee_names container)" -- "$cur")) ;;
    container:cp) # local paths, or CONTAINER: (bash splits words at ':', so only before it)
      COMPREPLY=($(compgen -f -- "$cur") $(compgen -W "$(_klee_names container | sed 's/$/:/')" -- "$cur")) ;;
    container:ls | container:prune | image:ls | image:prune | network:ls | network:prune | volume:ls | volume:prune | system:*) ;;
    container:*) COMPREPLY=($(compgen -W "$(_klee_names container)" -- "$cur")) ;;
    image:*) COMPREPLY=($(compgen -W "$(_klee_names image)" -- "$cur")) ;;
    network:connect | network:disconnect)
      if ((nargs == 0)); then COMPREPLY=($(compgen -W "$(_klee_names network)" -- "$cur"))
      else COMPREPLY=($(compgen -W "$(_klee_names container)" -- "$cur")); fi ;;
    network:*) COMPREPLY=($(compgen -W "$(_klee_names network)" -- "$cur")) ;;
    volume:*) COMPREPLY=($(compgen -W "$(_klee_names volume)" -- "$cur")) ;;
  esac
}
complete -F _klee klee
