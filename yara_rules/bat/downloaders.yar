/*
   Batch-file "fixes": hidden PowerShell, and Windows' own tools abused as downloaders (LOLBins).
*/

rule SUSP_BAT_PowerShell_Hidden_Nov26 {
   meta:
      description = "Batch file starts PowerShell with a hidden window"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1564/003/"
      score = 60
      attack = "T1564.003"
   strings:
      $echo_off = "@echo off" ascii nocase
      $ps = "powershell" ascii nocase
      $hid1 = "-w hidden" ascii nocase
      $hid2 = "-win hidden" ascii nocase
      $hid3 = "-windowstyle hidden" ascii nocase
      $hid4 = "-w 1 " ascii nocase
   condition:
      uint16(0) != 0x5a4d
      and filesize < 2MB
      and $ps and 1 of ($hid*)
      and ($echo_off or extension == "bat" or extension == "cmd")
}

rule MAL_BAT_Certutil_Urlcache_Nov26 {
   meta:
      description = "certutil -urlcache downloads a file from a URL (a LOLBin used as a downloader)"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1105/"
      score = 75
      attack = "T1105"
   strings:
      $certutil = "certutil" ascii wide nocase
      $cache1 = "-urlcache" ascii wide nocase
      $cache2 = "/urlcache" ascii wide nocase
      $url1 = "http://" ascii wide nocase
      $url2 = "https://" ascii wide nocase
   condition:
      uint16(0) != 0x5a4d
      and filesize < 5MB
      and $certutil and 1 of ($cache*) and 1 of ($url*)
}

rule SUSP_BAT_Bitsadmin_Transfer_Nov26 {
   meta:
      description = "bitsadmin /transfer downloads a file from a URL"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1197/"
      score = 55
      attack = "T1197"
   strings:
      $bits = "bitsadmin" ascii wide nocase
      $xfer = "/transfer" ascii wide nocase
      $url1 = "http://" ascii wide nocase
      $url2 = "https://" ascii wide nocase
   condition:
      uint16(0) != 0x5a4d
      and filesize < 5MB
      and $bits and $xfer and 1 of ($url*)
}
