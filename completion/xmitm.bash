# bash completion for xmitm (issue 23): commands, each command's options,
# the values of the options that have a fixed set, files where a file is
# expected. tests/unit/test_completion.py checks it against --help.

_xmitm_options() {
  # The options of command $1; those that take a value end in '='.
  local filters='--conn= --dir= --kind= --ns= --jid= --grep='
  local output='--color= --utc --max-text= --full-text --show-secrets
    --hide-keepalives --json'
  case $1 in
    proxy) echo "-h --help -l --listen= -u --upstream= --upstream-tls=
      --upstream-ca= --upstream-insecure --ca-cert= --ca-key= --keylog=
      --tls-timeout= --connect-timeout= --max-stanza= --keep-channel-binding
      --no-compression --max-inflate= --max-inflate-ratio= -t --transparent
      --tproxy --keep-source --mark= --user= -w --record= --record-secrets
      --pcap= --web= $output -q --quiet $filters" ;;
    show) echo "-h --help $output $filters" ;;
    export) echo "-h --help --pcap= --html= --secrets" ;;
    replay) echo "-h --help -s --server= -p --password= --password-file=
      --credentials= --tls= --transport= --path= --upstream-ca=
      --upstream-insecure --pace= -i --ignore= --timeout= --junit= -v
      --verbose --serve -l --listen= --ca-cert= --ca-key= --user=" ;;
    ca) echo "-h --help --ca-cert= --ca-key=" ;;
    web) echo "-h --help -l --listen= --show-secrets --max-text= --full-text
      --utc" ;;
  esac
}

# The long option a short one stands for, when the short one takes a value.
_xmitm_long() {
  case $1:$2 in
    proxy:-l|replay:-l|web:-l) echo --listen ;;
    proxy:-u) echo --upstream ;;
    proxy:-w) echo --record ;;
    replay:-s) echo --server ;;
    replay:-p) echo --password ;;
    replay:-i) echo --ignore ;;
    *) echo "$2" ;;
  esac
}

# Completes the value of option $2 (a long one) of command $1 from the word
# $3. Returns 1 when $2 takes no value.
_xmitm_value() {
  local values
  [[ " $(_xmitm_options "$1") " == *" $2= "* ]] || return 1
  case $2 in
    --kind) values='message presence iq stream' ;;
    --dir) values='c2s s2c client server' ;;
    --color) values='auto always never' ;;
    --tls) values='auto starttls direct none' ;;
    --pace) values='iq recorded fast' ;;
    --transport) values='auto tcp ws bosh' ;;
    --upstream-ca|--ca-cert|--ca-key|--keylog|--record|--pcap|--password-file|\
    --credentials|--junit)
      local IFS=$'\n'  # file names with spaces
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$3"))
      return 0 ;;
    *) # an address, a number, a JID...: nothing to offer
      COMPREPLY=()
      return 0 ;;
  esac
  COMPREPLY=($(compgen -W "$values" -- "$3"))
}

_xmitm() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local cmd=${COMP_WORDS[1]} opt
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W 'proxy show web export replay ca version --help
      --version' -- "$cur"))
    return
  fi
  # --color=a reaches us as "--color" "=" "a" (= is in COMP_WORDBREAKS).
  if [[ $cur == = ]]; then
    _xmitm_value "$cmd" "$prev" "" && return
  elif [[ $prev == = ]] && ((COMP_CWORD > 2)); then
    _xmitm_value "$cmd" "${COMP_WORDS[COMP_CWORD-2]}" "$cur" && return
  elif [[ $prev == -* ]] && ((COMP_CWORD > 2)); then
    opt=$(_xmitm_long "$cmd" "$prev")
    _xmitm_value "$cmd" "$opt" "$cur" && return
  fi
  if [[ $cur == -* ]]; then
    local o words=()
    for o in $(_xmitm_options "$cmd"); do words+=("${o%=}"); done
    COMPREPLY=($(compgen -W "${words[*]}" -- "$cur"))
    return
  fi
  case $cmd in
    ca) COMPREPLY=($(compgen -W 'path export' -- "$cur")) ;;
    show|export|replay|web)
      local IFS=$'\n'
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -F _xmitm xmitm
