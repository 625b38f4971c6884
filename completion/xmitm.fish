# fish completion for xmitm (issue 23): commands, each command's options,
# the values of the options that have a fixed set, files where a file is
# expected; the same coverage as xmitm.bash. tests/unit/test_completion_fish.py
# runs it in fish and checks its options against each command's --help.

# True when the command (the first word after xmitm) is one of $argv.
function __fish_xmitm_cmd
    set -l words (commandline -opc)
    test (count $words) -ge 2; and contains -- $words[2] $argv
end

function __fish_xmitm_no_cmd
    test (count (commandline -opc)) -lt 2
end

complete -c xmitm -f
complete -c xmitm -n __fish_xmitm_no_cmd -l help -d 'Show the commands'
complete -c xmitm -n __fish_xmitm_no_cmd -l version -d 'Print the version'
complete -c xmitm -n __fish_xmitm_no_cmd -a proxy -d 'Relay XMPP between clients and a server, printing every stanza'
complete -c xmitm -n __fish_xmitm_no_cmd -a show -d 'Print a recording or a packet capture'
complete -c xmitm -n __fish_xmitm_no_cmd -a web -d 'Browse recordings in a web browser'
complete -c xmitm -n __fish_xmitm_no_cmd -a export -d 'Convert a recording to a packet capture or one HTML file'
complete -c xmitm -n __fish_xmitm_no_cmd -a replay -d 'Replay a recording against a server, or to a client'
complete -c xmitm -n __fish_xmitm_no_cmd -a ca -d 'Show or export the CA xmitm signs with'
complete -c xmitm -n __fish_xmitm_no_cmd -a version -d 'Print the version'

# -h, --help everywhere but version
complete -c xmitm -n '__fish_xmitm_cmd proxy show web export replay ca' -s h -l help -d 'Show the options'

# The output options (proxy, show) and the filters (proxy, show).
set -l out '__fish_xmitm_cmd proxy show'
complete -c xmitm -n $out -l color -x -a 'auto always never' -d 'Colour the output'
complete -c xmitm -n $out -l utc -d 'ISO 8601 UTC timestamps'
complete -c xmitm -n $out -l max-text -x -d 'Shorten text longer than N bytes'
complete -c xmitm -n $out -l full-text -d 'Show all text, however long'
complete -c xmitm -n $out -l show-secrets -d 'Print SASL payloads and passwords as sent'
complete -c xmitm -n $out -l hide-keepalives -d 'Do not print whitespace keepalives'
complete -c xmitm -n $out -l json -d 'Print events as JSON Lines'
complete -c xmitm -n $out -l conn -x -d 'Only connection N (3,5 or 3-7)'
complete -c xmitm -n $out -l dir -x -a 'c2s s2c client server' -d 'Only one direction'
complete -c xmitm -n $out -l kind -x -a 'message presence iq stream' -d 'Only these kinds of event'
complete -c xmitm -n $out -l ns -x -d 'Only stanzas with a child in namespace URI'
complete -c xmitm -n $out -l jid -x -d 'Only stanzas from or to JID'
complete -c xmitm -n $out -l grep -x -d 'Only what matches the regex'

set -l p '__fish_xmitm_cmd proxy'
complete -c xmitm -n $p -s l -l listen -x -d 'Accept clients on ADDR:PORT'
complete -c xmitm -n $p -s u -l upstream -x -d 'The server: HOST:PORT, or a DOMAIN found by its SRV records'
complete -c xmitm -n $p -l upstream-tls -x -d 'Where clients that open with TLS go (HOST:PORT)'
complete -c xmitm -n $p -l upstream-ca -r -F -d 'Also trust this CA for the server'
complete -c xmitm -n $p -l upstream-insecure -d "Do not verify the server's certificate"
complete -c xmitm -n $p -l ca-cert -r -F -d 'Sign forged certificates with this CA'
complete -c xmitm -n $p -l ca-key -r -F -d 'The key of --ca-cert'
complete -c xmitm -n $p -l keylog -r -F -d 'Append TLS secrets of both legs to FILE'
complete -c xmitm -n $p -l tls-timeout -x -d 'Give up on a TLS handshake after N seconds'
complete -c xmitm -n $p -l connect-timeout -x -d 'Give up connecting after N seconds'
complete -c xmitm -n $p -l max-stanza -x -d 'Do not decode larger stanzas'
complete -c xmitm -n $p -l keep-channel-binding -d 'Pass SCRAM-*-PLUS and XEP-0440 on'
complete -c xmitm -n $p -l no-compression -d 'Remove XEP-0138 compression from the features'
complete -c xmitm -n $p -l max-inflate -x -d 'Stop inflating after SIZE bytes without a stanza'
complete -c xmitm -n $p -l max-inflate-ratio -x -d 'Stop inflating beyond N:1'
complete -c xmitm -n $p -s t -l transparent -d 'Serve connections a NAT rule redirected'
complete -c xmitm -n $p -l tproxy -d 'Transparent mode with TPROXY rules'
complete -c xmitm -n $p -l keep-source -d "With --tproxy: connect from the client's address"
complete -c xmitm -n $p -l mark -x -d 'SO_MARK of upstream connections'
complete -c xmitm -n $p -l user -x -a '(__fish_complete_users)' -d 'Once bound, run as USER'
complete -c xmitm -n $p -s w -l record -r -F -d 'Record every event to FILE'
complete -c xmitm -n $p -l record-secrets -d 'Keep passwords and SASL payloads in the recording'
complete -c xmitm -n $p -l pcap -r -F -d 'Also write a packet capture to FILE'
complete -c xmitm -n $p -l web -f -d 'Also serve the sessions live to a browser (=ADDR:PORT)'
complete -c xmitm -n $p -s q -l quiet -d 'Print nothing'

set -l w '__fish_xmitm_cmd web'
complete -c xmitm -n $w -s l -l listen -x -d 'Serve on ADDR:PORT'
complete -c xmitm -n $w -l show-secrets -d 'Show SASL payloads and passwords a recording kept'
complete -c xmitm -n $w -l max-text -x -d 'Shorten text longer than N bytes'
complete -c xmitm -n $w -l full-text -d 'Show all text, however long'
complete -c xmitm -n $w -l utc -d 'ISO 8601 UTC timestamps'

set -l e '__fish_xmitm_cmd export'
complete -c xmitm -n $e -l pcap -r -F -d 'Write a packet capture to OUT'
complete -c xmitm -n $e -l html -r -F -d 'Write one self-contained HTML file to OUT'
complete -c xmitm -n $e -l secrets -d 'Keep the secrets the recording holds'

set -l r '__fish_xmitm_cmd replay'
complete -c xmitm -n $r -s s -l server -x -d 'The server: HOST:PORT, or a DOMAIN found by its SRV records'
complete -c xmitm -n $r -s p -l password -x -d 'The password of the recorded accounts'
complete -c xmitm -n $r -l password-file -r -F -d 'Read the password from FILE'
complete -c xmitm -n $r -l credentials -r -F -d 'Passwords of several accounts'
complete -c xmitm -n $r -l tls -x -a 'auto starttls direct none' -d 'TLS towards the server'
complete -c xmitm -n $r -l transport -x -a 'auto tcp ws' -d 'TCP or WebSocket'
complete -c xmitm -n $r -l path -x -d "The WebSocket endpoint's path"
complete -c xmitm -n $r -l upstream-ca -r -F -d 'Also trust this CA for the server'
complete -c xmitm -n $r -l upstream-insecure -d "Do not verify the server's certificate"
complete -c xmitm -n $r -l pace -x -a 'iq recorded fast' -d 'When to send'
complete -c xmitm -n $r -s i -l ignore -x -d 'Leave what XPATH selects out of the comparison'
complete -c xmitm -n $r -l timeout -x -d 'Call a stanza missing after N seconds'
complete -c xmitm -n $r -l junit -r -F -d 'Also write a JUnit XML report'
complete -c xmitm -n $r -s v -l verbose -d 'Print every stanza sent and received'
complete -c xmitm -n $r -l serve -d 'Play the recorded server to clients'
complete -c xmitm -n $r -s l -l listen -x -d 'With --serve: accept clients on ADDR:PORT'
complete -c xmitm -n $r -l ca-cert -r -F -d 'With --serve: sign with this CA'
complete -c xmitm -n $r -l ca-key -r -F -d 'The key of --ca-cert'
complete -c xmitm -n $r -l user -x -a '(__fish_complete_users)' -d 'With --serve, as root: run as USER'

set -l c '__fish_xmitm_cmd ca'
complete -c xmitm -n $c -l ca-cert -r -F -d 'Use this CA certificate'
complete -c xmitm -n $c -l ca-key -r -F -d 'The key of --ca-cert'
complete -c xmitm -n $c -a path -d 'Where the CA certificate is'
complete -c xmitm -n $c -a export -d 'Print the certificate'

# Recordings and captures as arguments.
complete -c xmitm -n '__fish_xmitm_cmd show web export replay' -F
