/*
   PowerShell download cradles and hidden launches, in .ps1 files and in anything else that carries a
   PowerShell command line (BAT, JS, HTA...). UTF-16LE files (saved by PowerShell ISE) match via "wide".
*/

rule SUSP_PS_IEX_Download_Cradle_Nov26 {
   meta:
      description = "PowerShell downloads text and runs it with Invoke-Expression (download cradle)"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1059/001/"
      // Suspicious, not malicious, on its own: real installers (scoop, bun) document "irm ... | iex".
      // A brand claim, a hidden window or a look-alike host next to it makes the file malicious.
      score = 60
      attack = "T1059.001"
   strings:
      // Download piped into IEX, or IEX wrapping the download; same line, bounded gap. The download
      // words anchor the first regex, "iex"/"Invoke-Expression" the second.
      $pipe = /(DownloadString|DownloadData|Invoke-WebRequest|Invoke-RestMethod|iwr|irm)[^\n]{0,300}\|[ \t]{0,4}(iex|Invoke-Expression)\b/ ascii wide nocase
      $wrap = /(iex|Invoke-Expression)[ \t]{0,4}[(\[][^\n]{0,80}(DownloadString|DownloadData|Invoke-WebRequest|Invoke-RestMethod|iwr|irm)\b/ ascii wide nocase
   condition:
      uint16(0) != 0x5a4d and uint32(0) != 0x464c457f
      and filesize < 5MB
      and ($pipe or $wrap)
}

rule SUSP_PS_EncodedCommand_Nov26 {
   meta:
      description = "PowerShell is started with a Base64-encoded command line (-EncodedCommand)"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1027/010/"
      score = 55
      attack = "T1027.010"
   strings:
      $ps1 = "powershell" ascii wide nocase
      $ps2 = "pwsh" ascii wide nocase fullword
      // Every accepted abbreviation of -EncodedCommand, followed by a Base64 blob ("-Encoding UTF8" is not).
      $enc1 = / -e [A-Za-z0-9+\/]{20}/ ascii wide nocase
      $enc2 = / -ec [A-Za-z0-9+\/]{20}/ ascii wide nocase
      $enc3 = / -(en|enc|enco|encod|encodedcommand) [A-Za-z0-9+\/]{20}/ ascii wide nocase
      $enc4 = / \/enc [A-Za-z0-9+\/]{20}/ ascii wide nocase
   condition:
      uint16(0) != 0x5a4d and uint32(0) != 0x464c457f
      and filesize < 5MB
      and 1 of ($ps*) and 1 of ($enc*)
}

rule SUSP_PS_Hidden_Window_Download_Nov26 {
   meta:
      description = "PowerShell is started with a hidden window and downloads something"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1564/003/"
      score = 60
      attack = "T1564.003"
   strings:
      $hid1 = "-w hidden" ascii wide nocase
      $hid2 = "-win hidden" ascii wide nocase
      $hid3 = "-windowstyle hidden" ascii wide nocase
      $hid4 = "-WindowStyle 1 " ascii wide nocase
      $dl1 = "DownloadString" ascii wide nocase
      $dl2 = "DownloadFile" ascii wide nocase
      $dl3 = "Invoke-WebRequest" ascii wide nocase
      $dl4 = "Start-BitsTransfer" ascii wide nocase
      $dl5 = "Net.WebClient" ascii wide nocase
      $dl6 = "iwr " ascii wide nocase
   condition:
      uint16(0) != 0x5a4d and uint32(0) != 0x464c457f
      and filesize < 5MB
      and 1 of ($hid*) and 1 of ($dl*)
}
