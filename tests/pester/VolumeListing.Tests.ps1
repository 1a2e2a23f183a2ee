# Get-BlockVolume pages and streams (issue 11): -First/-Skip (SupportsPaging) are LIMIT/OFFSET in the
# query, in creation order, and each volume is written as it is read, so a pipeline that stops
# early (Select-Object -First) ends the read. -IncludeTotalCount counts in the database.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'pg'
    # Requests only (no -Wait): the rows are what the listing reads. One at a time, so that the
    # creation order (the listing's order) is the order of this list.
    $script:made = @(1..5 | ForEach-Object { New-BlockVolume -Name "$prefix-$_" -SizeGiB 1 -Confirm:$false })
    $script:all = @(Get-BlockVolume -Name "$prefix-*")
}

AfterAll {
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Remove-BlockVolume -Confirm:$false -Force -Wait -TimeoutSec 300 -ErrorAction Continue | Out-Null
}

Describe 'Get-BlockVolume -First and -Skip' {
    It 'lists in creation order (the order paging pages)' {
        $all.Name | Should -Be @($made.Name)
    }

    It '-First 2 returns the first two' {
        @(Get-BlockVolume -Name "$prefix-*" -First 2).Name | Should -Be @($made[0].Name, $made[1].Name)
    }

    It '-Skip 3 returns the rest after three' {
        @(Get-BlockVolume -Name "$prefix-*" -Skip 3).Name | Should -Be @($made[3].Name, $made[4].Name)
    }

    It '-Skip 1 -First 2 returns the second and the third' {
        @(Get-BlockVolume -Name "$prefix-*" -Skip 1 -First 2).Name | Should -Be @($made[1].Name, $made[2].Name)
    }

    It '-First 0 returns nothing, and -Skip past the end returns nothing, without an error' {
        @(Get-BlockVolume -Name "$prefix-*" -First 0 -ErrorVariable e1) | Should -HaveCount 0
        @(Get-BlockVolume -Name "$prefix-*" -Skip 10 -ErrorVariable e2) | Should -HaveCount 0
        $e1 + $e2 | Should -HaveCount 0
    }

    It '-IncludeTotalCount writes the count of every match first (paging left out), then the page' {
        $out = @(Get-BlockVolume -Name "$prefix-*" -First 1 -IncludeTotalCount)
        $out | Should -HaveCount 2
        "$($out[0])" | Should -Match '\b5\b'
        $out[1].Name | Should -Be $made[0].Name
    }

    It 'an exact name missing from a page is no error (the page may leave it out); without paging it is VolumeNotFound' {
        @(Get-BlockVolume -Name "$prefix-5", "$prefix-missing" -First 1 -ErrorVariable paged -ErrorAction SilentlyContinue).Name | Should -Be "$prefix-5"
        $paged | Should -HaveCount 0
        Get-BlockVolume -Name "$prefix-missing" -ErrorAction SilentlyContinue -ErrorVariable whole | Out-Null
        $whole | Should -HaveCount 1
        $whole[0].FullyQualifiedErrorId | Should -BeLike 'VolumeNotFound,*'
    }
}

Describe 'Get-BlockVolume streams' {
    It 'a pipeline that stops after the first object gets the first volume' {
        (Get-BlockVolume -Name "$prefix-*" | Select-Object -First 1).Name | Should -Be $made[0].Name
    }

    It 'the session is usable after a stopped read (the reader was closed)' {
        1..3 | ForEach-Object { Get-BlockVolume -Name "$prefix-*" | Select-Object -First 1 | Out-Null }
        @(Get-BlockVolume -Name "$prefix-*") | Should -HaveCount 5
    }
}
