# bash completion for slipway: commands, subcommands and options.
#   source <(slipway completion bash)
_slipway() {
    local cur prev cmd sub words
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=${COMP_WORDS[1]}
    sub=${COMP_WORDS[2]}
    local common="--server --token --workspace --json --help"
    local commands="serve config admin flow eject deploy logs down version help
        login logout whoami workspace projects project env service deploys
        rollback promote vars scale domains open completion"

    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        return
    fi
    case $prev in
        --server|--token|--workspace|--ref|--name|--context|--port|--image|--id|--from|--to|\
        --tail|--email|--ingress-url|--env|-e|-o)
            return ;;
        --repo)
            COMPREPLY=($(compgen -d -- "$cur"))
            return ;;
    esac
    case $cmd in
        help) words=$commands ;;
        login) words="--email --password-stdin --token" ;;
        logout|whoami|projects) words="" ;;
        workspace) [ "$COMP_CWORD" -eq 2 ] && words="use list" || words="" ;;
        project) [ "$COMP_CWORD" -eq 2 ] && words="create delete" || words="--id --yes" ;;
        env) [ "$COMP_CWORD" -eq 2 ] && words="create delete" || words="--from --yes" ;;
        service)
            if [ "$COMP_CWORD" -eq 2 ]; then words="add remove"
            elif [ "$sub" = add ]; then
                words="--repo --ref --env --name --context --port --image --yes"
            else words="--env --yes"; fi ;;
        vars) [ "$COMP_CWORD" -eq 2 ] && words="list set unset" || words="--env --secret" ;;
        domains) words="add remove --env" ;;
        deploys|rollback|scale) words="--env" ;;
        promote) words="--from --to" ;;
        open) words="--env --ingress-url" ;;
        deploy) words="--env --ref" ;;
        logs) words="--env --tail -f --follow" ;;
        eject) words="-o" ;;
        completion) words="bash zsh" ;;
        flow) [ "$COMP_CWORD" -eq 2 ] && words="ls show log cancel retry" || words="" ;;
        config) [ "$COMP_CWORD" -eq 2 ] && words="show check keys" || words="--config --set" ;;
        admin) [ "$COMP_CWORD" -eq 2 ] && words="create" || words="--email --name" ;;
        serve|down)
            words="--config --data-dir --store --services --bind --port
                --log-level --set" ;;
        *) words="" ;;
    esac
    case $cmd in
        serve|down|config|admin|flow|completion|help|version) ;;
        *) words="$words $common" ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _slipway slipway
