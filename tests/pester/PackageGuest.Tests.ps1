# The agent's Debian package on a storage server that boots systemd: the lab's guest is restarted
# with systemd as its init (bs.init=systemd, tests/lab/guest/init), `dpkg -i` installs
# blockstore-agent, the operator's /etc/blockstore/agent.json is put in place, and systemd runs the
# packaged unit with its hardening next to the guest's real LVM (thin pool, device-mapper) and LIO.
# What must hold: the unit starts as a notify service, serves volumes (create, export through LIO
# with the saved configuration written, removal), logs to journald, comes back by itself after
# `systemctl kill -s KILL`, and `systemctl stop` ends it cleanly within the unit's TimeoutStopSec.
# Afterwards the guest boots its own /init and agent again, as the other guest suites expect.
#
# Cost: two guest reboots and three starts of the agent under TCG (each 1-4 minutes on a loaded
# machine), plus packaging when out/packages is older than the build.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

Describe 'blockstore-agent from its .deb under systemd (lab guest)' -Skip:(-not $hasGuest) {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
        $lab = Initialize-LabTest -Guest
        $script:g = $lab.guest
        $script:prefix = New-LabTestPrefix 'pg'
        $debs = Initialize-LabPackages -Lab $lab
        $share = Join-Path $lab.stateDir 'guest/share'

        # The package and the operator's configuration reach the guest through its read-only share.
        Copy-Item -LiteralPath $debs.agent -Destination (Join-Path $share 'blockstore-agent.deb') -Force
        # /etc/blockstore/agent.json as an operator writes it: what Register-BlockVolumeHost wrote for
        # this host (its database login) plus the settings the lab's own launcher passes on the
        # command line (agent.args: VG, thin pool, portal, the TCG deadlines, ...), so both agents
        # are the same host.
        $config = Get-Content -LiteralPath (Join-Path $share 'agent.json') -Raw | ConvertFrom-Json -AsHashtable
        foreach ($line in Get-Content -LiteralPath (Join-Path $share 'agent.args')) {
            if ($line -notmatch '^--(?<key>[^=]+)=(?<value>.*)$' -or $Matches.key -eq 'ConfigFile') { continue }
            $value = $Matches.value
            $node = $config
            $parts = $Matches.key -split ':'
            foreach ($p in $parts[0..($parts.Count - 2)]) {
                if (-not $node.ContainsKey($p)) { $node[$p] = @{} }
                $node = $node[$p]
            }
            $node[$parts[-1]] = $value
        }
        $config | ConvertTo-Json -Depth 8 | Set-Content -LiteralPath (Join-Path $share 'agent-systemd.json')

        Restart-LabGuest -Lab $lab -Systemd
        # The agent under TCG starts 50-100x slower than on a storage server (1-4 min measured): the
        # lab's drop-in gives its start and its watchdog that room. Everything else is the package's unit.
        $dropIn = "[Service]`nTimeoutStartSec=900`nWatchdogSec=600`n"
        Invoke-LabGuest -Guest $g -TimeoutSeconds 600 -InputText $dropIn -Command ('dpkg -i /mnt/share/blockstore-agent.deb && ' +
            'install -m 0600 /mnt/share/agent-systemd.json /etc/blockstore/agent.json && ' +
            'mkdir -p /etc/systemd/system/blockstore-agent.service.d && cat > /etc/systemd/system/blockstore-agent.service.d/lab-tcg.conf && ' +
            'systemctl daemon-reload') | Out-Null

        function Get-Unit {
            <# systemctl show of the agent's unit as a hashtable. #>
            $props = @{}
            foreach ($line in Invoke-LabGuest -Guest $g -TimeoutSeconds 300 -Command 'systemctl show blockstore-agent -p ActiveState,SubState,Result,MainPID,NRestarts,Type,ExecMainCode,ExecMainStatus,TimeoutStopUSec') {
                $k, $v = "$line" -split '=', 2
                $props[$k] = $v
            }
            return $props
        }
        function Wait-AgentReported {
            <# The agent has registered and probed LIO since its capability was cleared (Wait-LabGuestAgent). #>
            Wait-LabGuestAgent -Lab $lab -Guest $g -Deadline ([DateTime]::UtcNow.AddSeconds(900))
        }

        Invoke-LabSql "update bs.services set capabilities = capabilities - 'iscsi' - 'iscsi_reason' where host = '$($g.name)'" | Out-Null
        # Type=notify: systemctl start returns once the agent has sent READY=1.
        Invoke-LabGuest -Guest $g -TimeoutSeconds 960 -Command 'systemctl start blockstore-agent' | Out-Null
        Wait-AgentReported
    }

    AfterAll {
        # Back to the lab's own init and agent (the other guest suites use bs-agent).
        if (Get-Command Restart-LabGuest -ErrorAction Ignore) {
            Restart-LabGuest -Lab (Get-LabInfo)
        }
    }

    It 'is installed by dpkg and runs under systemd as a notify service' {
        (Invoke-LabGuest -Guest $g -Command "dpkg-query -W -f='`${Status} `${Version}' blockstore-agent") | Should -Match '^install ok installed '
        (Invoke-LabGuest -Guest $g -Command 'ps -p 1 -o comm=') | Should -Be 'systemd'
        $u = Get-Unit
        $u.Type | Should -Be 'notify'
        $u.ActiveState | Should -Be 'active'
        $u.SubState | Should -Be 'running'
        $exe = Invoke-LabGuest -Guest $g -Command "readlink /proc/$($u.MainPID)/exe"
        $exe | Should -Be '/usr/lib/blockstore/agent/BlockStore.Agent'
    }

    It 'serves volumes: create in the thin pool, export through LIO (configuration saved), removal' {
        $v = New-BlockVolume -Name "$prefix-a" -SizeGiB 1 -AvailabilityZone $g.zone -Wait -TimeoutSec 900 -Confirm:$false
        $v.Status | Should -Be 'available' -Because $v.StatusReason
        $v.Host | Should -Be $g.name
        $script:servedVolumeId = $v.Id
        (Invoke-LabGuest -Guest $g -Command "lvs --noheadings -o lv_name,pool_lv $($g.vg)/volume-$($v.Id)") | Should -Match "volume-$($v.Id)\s+$($g.thinPool)"

        $a = New-BlockVolumeAttachment -VolumeId $v.Id -InitiatorIqn "iqn.2026-12.lab.package:$prefix" -Wait -TimeoutSec 900 -Confirm:$false
        $a.Status | Should -Be 'attached' -Because $a.StatusReason
        @(Invoke-LabGuest -Guest $g -Command 'ls /sys/kernel/config/target/iscsi') | Should -Contain $a.TargetIqn
        # saveconfig under ProtectSystem=strict: the unit must let it write Debian's rtslib-fb path.
        (Invoke-LabGuest -Guest $g -Command "grep -c '$($a.TargetIqn)' /etc/rtslib-fb-target/saveconfig.json") | Should -BeGreaterThan 0

        Remove-BlockVolumeAttachment -Id $a.Id -Wait -TimeoutSec 900 -Confirm:$false
        (Remove-BlockVolume -Id $v.Id -Wait -PassThru -TimeoutSec 900 -Confirm:$false).Status | Should -Be 'deleted'
        @(Invoke-LabGuest -Guest $g -Command "lvs --noheadings -o lv_name $($g.vg)" | ForEach-Object { "$_".Trim() }) | Should -Not -Contain "volume-$($v.Id)"
        @(Invoke-LabGuest -Guest $g -Command 'ls /sys/kernel/config/target/iscsi') | Should -Not -Contain $a.TargetIqn
    }

    It 'logs to journald under its own identifier' {
        $log = @(Invoke-LabGuest -Guest $g -TimeoutSeconds 300 -Command 'journalctl -t blockstore-agent -o cat --no-pager | tail -200')
        # The agent logs each operation it finished with the volume's id.
        ($log -join "`n") | Should -Match ([regex]::Escape("$script:servedVolumeId"))
    }

    It 'comes back by itself after systemctl kill -s KILL, and serves again' {
        $before = Get-Unit
        Invoke-LabSql "update bs.services set capabilities = capabilities - 'iscsi' - 'iscsi_reason' where host = '$($g.name)'" | Out-Null
        Invoke-LabGuest -Guest $g -Command 'systemctl kill -s KILL blockstore-agent' | Out-Null
        $back = Wait-LabCondition -TimeoutSeconds 900 -IntervalMilliseconds 2000 -Condition {
            $u = Get-Unit
            $u.ActiveState -eq 'active' -and $u.SubState -eq 'running' -and $u.MainPID -ne '0' -and $u.MainPID -ne $before.MainPID
        }
        $back | Should -BeTrue -Because 'Restart=on-failure brings a killed agent back'
        [int](Get-Unit).NRestarts | Should -BeGreaterThan ([int]$before.NRestarts)
        Wait-AgentReported

        $v = New-BlockVolume -Name "$prefix-b" -SizeGiB 1 -AvailabilityZone $g.zone -Wait -TimeoutSec 900 -Confirm:$false
        $v.Status | Should -Be 'available' -Because $v.StatusReason
        (Remove-BlockVolume -Id $v.Id -Wait -PassThru -TimeoutSec 900 -Confirm:$false).Status | Should -Be 'deleted'
    }

    It 'stops cleanly on systemctl stop, within the unit''s TimeoutStopSec' {
        Invoke-LabGuest -Guest $g -TimeoutSeconds 300 -Command 'systemctl stop blockstore-agent' | Out-Null
        $u = Get-Unit
        $u.ActiveState | Should -Be 'inactive'
        # 'timeout' when systemd had to SIGKILL it after TimeoutStopSec; 'success' for a clean exit.
        $u.Result | Should -Be 'success'
        $u.ExecMainCode | Should -Be '1' -Because 'CLD_EXITED: the agent exited by itself (2 would be killed by a signal)'
        $u.ExecMainStatus | Should -Be '0'
        (Invoke-LabGuest -Guest $g -Command 'journalctl -t blockstore-agent -o cat --no-pager | tail -50') -join "`n" |
            Should -Match 'Application is shutting down' -Because 'the host logs its shutdown'
    }
}
