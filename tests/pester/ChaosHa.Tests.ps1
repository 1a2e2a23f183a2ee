# The chaos stream on a Patroni lab (tests/lab/Chaos.psm1): volume creates and deletes while the
# primary's postmaster is SIGKILLed, Patroni switches over and agents and schedulers are killed;
# then nothing accepted may be lost, stuck or made twice, and lvs must agree with the database.
# It runs on a lab of its own beside whatever lab this file is pointed at (Invoke-LabSecondUp -Ha,
# 'chaos-ha'), which it leaves alone: so `build.ps1 Test` runs it in the second lab's lane, beside
# the guest's files, instead of taking the test lab down for it at the end.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO points at the lab it sits beside.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path $PSScriptRoot '../lab/LabTasks.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path $PSScriptRoot '../lab/Chaos.psm1') -Force -DisableNameChecking
    $script:parent = Get-LabRepoRoot
    $script:haRepo = Get-LabSecondRepo -Repo $parent -Name 'chaos-ha'
    # Invoke-LabChaosRun points BLOCKSTORE_CONNECTION at its lab: the files after this one in the
    # same pwsh get theirs back.
    $script:connection = $env:BLOCKSTORE_CONNECTION
}

AfterAll {
    $env:BLOCKSTORE_CONNECTION = $connection
    Remove-LabSecondRepo -Repo $parent -Name 'chaos-ha' | Out-Null
}

Describe 'the chaos stream on a Patroni lab (primary and synchronous standby)' {
    It 'loses, strands and duplicates nothing while PostgreSQL fails over and hosts are killed' {
        $lab = Invoke-LabSecondUp -Repo $parent -Name 'chaos-ha' -Ha
        $lab.PSObject.Properties['ha'] | Should -Not -BeNullOrEmpty -Because 'the stream must run against Patroni'
        $r = Invoke-LabChaosRun -Repo $haRepo -Rounds (Get-TestChaosRounds)
        $r.Ha | Should -BeTrue
        @($r.Invariants | Where-Object { -not $_.Held } | ForEach-Object { "$($_.Invariant): $($_.Value)" }) | Should -BeNullOrEmpty
        $r.Passed | Should -BeTrue -Because 'every invariant holds (the table above)'
    }
}
