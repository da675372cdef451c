#compdef slipway
# zsh completion for slipway: commands, subcommands and options.
#   slipway completion zsh > ~/.zfunc/_slipway   (with ~/.zfunc in $fpath, then compinit)
_slipway() {
    local -a commands common opts
    commands=(
        'serve:run slipway' 'config:show, check or describe the configuration'
        'admin:create a user' 'flow:workflows' 'eject:download an eject archive'
        'deploy:build and roll out a service' 'logs:a service'"'"'s output'
        'down:stop what a stopped slipway left running' 'version:print the version'
        'help:show help' 'login:log in' 'logout:log out' 'whoami:who is logged in'
        'workspace:use or list workspaces' 'projects:list projects'
        'project:create or delete a project' 'env:create or delete an environment'
        'service:add or remove a service' 'deploys:deploy history'
        'rollback:roll back to an earlier image' 'promote:copy a release to another environment'
        'vars:list, set or unset variables' 'scale:set replicas'
        'domains:list, add or remove domains'
        'open:print and open the app URL' 'completion:print a completion script'
    )
    common=(--server --token --workspace --json --help)
    if (( CURRENT == 2 )); then
        _describe 'command' commands
        return
    fi
    case ${words[2]} in
        help) _describe 'command' commands; return ;;
        login) opts=(--email --password-stdin --token) ;;
        workspace) (( CURRENT == 3 )) && opts=(use list) || opts=() ;;
        project) (( CURRENT == 3 )) && opts=(create delete) || opts=(--id --yes) ;;
        env) (( CURRENT == 3 )) && opts=(create delete) || opts=(--from --yes) ;;
        service)
            if (( CURRENT == 3 )); then opts=(add remove)
            else opts=(--repo --ref --env --name --context --port --image --yes); fi ;;
        vars) (( CURRENT == 3 )) && opts=(list set unset) || opts=(--env --secret) ;;
        domains) opts=(add remove --env) ;;
        deploys|rollback|scale) opts=(--env) ;;
        promote) opts=(--from --to) ;;
        open) opts=(--env --ingress-url) ;;
        deploy) opts=(--env --ref) ;;
        logs) opts=(--env --tail -f --follow) ;;
        eject) opts=(-o) ;;
        completion) opts=(bash zsh) ;;
        flow) opts=(ls show log cancel retry) ;;
        config) opts=(show check keys --config --set) ;;
        admin) opts=(create --email --name) ;;
        serve|down)
            opts=(--config --data-dir --store --services --bind --port
                  --log-level --set) ;;
        *) opts=() ;;
    esac
    case ${words[2]} in
        serve|down|config|admin|flow|completion|version) ;;
        *) opts+=($common) ;;
    esac
    compadd -- $opts
}
_slipway "$@"
