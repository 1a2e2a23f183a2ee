@{
    RootModule           = 'BlockStore.Commands.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6d8f0a52-3b7e-4b8f-9a51-2f4c7f1d9e10'
    Author               = 'BlockStore.Ps team'
    CompanyName          = 'BlockStore.Ps'
    Copyright            = '(c) BlockStore.Ps team. MIT License.'
    Description          = 'Block storage control plane: LVM volumes and iSCSI exports, requested from PowerShell, scheduled and run by BlockStore hosts over PostgreSQL.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('BlockStore.Format.ps1xml')
    CmdletsToExport      = @(
        'Connect-BlockStore'
        'Get-BlockStoreConnection'
        'New-BlockVolume'
        'New-BlockVolumeAttachment'
        'Get-BlockVolume'
        'Get-BlockVolumeAttachment'
        'Register-BlockVolumeHost'
        'Remove-BlockVolume'
        'Resize-BlockVolume'
        'New-BlockVolumeSnapshot'
        'Get-BlockVolumeSnapshot'
        'Remove-BlockVolumeSnapshot'
        'Restore-BlockVolume'
        'Remove-BlockVolumeAttachment'
        'Unregister-BlockVolumeHost'
        'Wait-BlockVolume'
        'Get-BlockVolumeEvent'
        'Disable-BlockVolumeService'
        'Enable-BlockVolumeService'
        'Get-BlockVolumeService'
        'Get-BlockVolumeServiceLogLevel'
        'Set-BlockVolumeService'
        'Set-BlockVolumeServiceLogLevel'
        'New-BlockStoreProject'
        'Get-BlockStoreProject'
        'Remove-BlockStoreProject'
        'Get-BlockStoreQuota'
        'Set-BlockStoreQuota'
        'New-BlockVolumeType'
        'Get-BlockVolumeType'
        'Set-BlockVolumeType'
        'Remove-BlockVolumeType'
        'Register-BlockStoreTenant'
        'Unregister-BlockStoreTenant'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('Storage', 'LVM', 'iSCSI', 'Cinder', 'PostgreSQL')
            ProjectUri = 'https://example.invalid/blockstore-ps'
        }
    }
}
