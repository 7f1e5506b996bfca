/*
   Windows shortcuts (.lnk) whose target is an interpreter with a hidden download command line, usually
   dressed with a Zoom/Teams icon. Windows writes LNK strings as UTF-16LE (IsUnicode flag), so command-line
   words are searched as "wide" only; the interpreter name also as ASCII, since it sits in the 8.3 names
   of the target ID list. ShowCommand (offset 0x3C) 7 = SW_SHOWMINNOACTIVE: the window never appears.
*/

rule MAL_LNK_PowerShell_Hidden_Cradle_Nov26 {
   meta:
      description = "Shortcut runs PowerShell with a hidden or minimized window and a download"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1204/002/"
      score = 85
      attack = "T1204.002"
   strings:
      $ps = "powershell" ascii wide nocase
      $hid1 = "hidden" wide nocase
      $hid2 = "-w h" wide nocase
      $dl1 = "DownloadString" wide nocase
      $dl2 = "DownloadFile" wide nocase
      $dl3 = "Invoke-WebRequest" wide nocase
      $dl4 = "Invoke-RestMethod" wide nocase
      $dl5 = "iwr " wide nocase
      $dl6 = "irm " wide nocase
      $dl7 = "Net.WebClient" wide nocase
      $dl8 = "Start-BitsTransfer" wide nocase
      $dl9 = "http://" wide nocase
      $dl10 = "https://" wide nocase
   condition:
      uint32(0) == 0x0000004c and uint32(4) == 0x00021401
      and filesize < 5MB
      and $ps and (1 of ($hid*) or uint32(0x3c) == 7) and 1 of ($dl*)
}

rule MAL_LNK_Cmd_Hidden_Download_Nov26 {
   meta:
      description = "Shortcut runs cmd.exe with a minimized window and a download tool"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1204/002/"
      score = 75
      attack = "T1204.002"
   strings:
      $cmd = "cmd.exe" wide nocase
      $c = "/c " wide nocase
      $min1 = "start /min" wide nocase
      $min2 = "start /b" wide nocase
      $dl1 = "curl " wide nocase
      $dl2 = "bitsadmin" wide nocase
      $dl3 = "certutil" wide nocase
      $dl4 = "mshta" wide nocase
      $dl5 = "http://" wide nocase
      $dl6 = "https://" wide nocase
   condition:
      uint32(0) == 0x0000004c and uint32(4) == 0x00021401
      and filesize < 5MB
      and $cmd and $c and (1 of ($min*) or uint32(0x3c) == 7) and 1 of ($dl*)
}
