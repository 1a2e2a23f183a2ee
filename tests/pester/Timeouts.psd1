# Time limit of each Pester file in `build.ps1 Test` (seconds, from the moment its tests start).
# A file still running at its limit is killed with every process it started, counted as failed,
# and named with the test that was running (PesterRunner.psm1). The limits only catch hangs: they
# are far above the measured durations, which vary 2-3x with the load of this shared 2-core
# machine and the guest's TCG emulation. Measured: whole `build.ps1 Test` runs of 2026-11-28 at
# load 12-20 (two runs; a file absent from a run is marked -). Scale them all for a slower
# machine with `build.ps1 Test -PesterTimeoutScale 2` or BLOCKSTORE_PESTER_TIMEOUT_SCALE=2.
@{
    # A file not listed here (a new one): add it with its measured duration.
    DefaultSeconds = 900

    Files = @{
        'CrashSafety.Tests.ps1'       = 900    # 132 s, 134 s
        'Durability.Tests.ps1'        = 300    # new: 18 s in one run (two scheduler restarts)
        'ForeignSpace.Tests.ps1'      = 300    # new: 10 s in one run
        'HostRegistration.Tests.ps1'  = 300    # 22 s, -
        'Injection.Tests.ps1'         = 300    # 39 s, -
        # 591 s, 745 s, plus about 5 min for the guest reboot tests being added, and a guest that
        # can take up to 8 min to boot under TCG on a loaded machine (build.ps1 Up waits 480 s).
        'Iscsi.Tests.ps1'             = 2400
        # new: 277 s, 321 s at load 9-12 (two restarts of the guest agent and one leak pass).
        'IscsiLeakRemoval.Tests.ps1'  = 1500
        'Lab.Tests.ps1'               = 180    # 3 s, 5 s
        'Metrics.Tests.ps1'           = 300    # new: scrapes of 4 hosts, one create and one failed placement
        'LabModule.Tests.ps1'         = 400    # new: 78 s at load 38 (runs the docs example in a fresh pwsh)
        'ModuleBehaviour.Tests.ps1'   = 480    # 22 s, 53 s
        'ModuleConventions.Tests.ps1' = 300    # 8 s, 21 s
        # new: 29-40 s with packages present; 127 s, 142 s at load 4-5 when it packages in BeforeAll (two self-contained publishes, dpkg-deb).
        'Package.Tests.ps1'           = 900
        # new: two guest reboots (one into systemd) and three starts of the packaged agent under TCG,
        # each 1-4 min on a loaded machine, plus packaging when out/packages is stale: 1439 s at load 17-20 with packaging.
        'PackageGuest.Tests.ps1'      = 3000
        'ProjectsQuotas.Tests.ps1'    = 900    # new: quota refusals, 20 parallel requests, type placement; in the guest two volumes and a snapshot
        'OperationRetries.Tests.ps1'  = 600    # new: 3 + 2 attempts with 1-4 s backoff and 3 s deadlines, three agent restarts
        'NameWildcards.Tests.ps1'     = 300    # new: a few seconds (five requests, reads)
        'Reconcile.Tests.ps1'         = 300    # new: 39 s, 42 s (waits for two 10-s reconcile passes)
        'Resilience.Tests.ps1'        = 300    # 20 s, -
        'Schedulers.Tests.ps1'        = 600    # new: 92 s idle-ish, 135 s at load 40
        'TestRunner.Tests.ps1'        = 600    # 7 s, plus 30-110 s for the time-budget tests (two child pwsh runs, one cut at a 75-s budget)
        'VolumeLifecycle.Tests.ps1'   = 900    # 65 s, 160 s
        'VolumeExtend.Tests.ps1'      = 900    # 17 s on the host lab; 136 s with the guest (attach, online extend, qemu-io, detach) at load 20
        # two agent restarts; in the guest (TCG) a volume, a snapshot, dd and two removals; then bytes through the LUN
        # (four attaches and detaches, a snapshot, a clone, a volume from it, a revert): 490 s in all at load 20-30.
        'VolumeSnapshot.Tests.ps1'    = 1800
        'VolumeListing.Tests.ps1'     = 300    # new: a few seconds (five requests, reads)
        'WaitStoreUnavailable.Tests.ps1' = 1200 # new: seven PostgreSQL stops and agent restarts
        'VolumeService.Tests.ps1'     = 480    # 43 s, 58 s
    }
}
