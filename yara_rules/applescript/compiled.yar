/*
   Compiled AppleScript (.scpt, "FasdUAS" header). Commands are stored as Apple event codes
   ("do shell script" = class 'syso' id 'exec') and string literals as UTF-16BE text (utxt).
*/

rule MAL_AppleScript_Compiled_Shell_Download_Nov26 {
   meta:
      description = "Compiled AppleScript runs do shell script with a curl or wget download"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1059/002/"
      score = 75
      attack = "T1059.002"
   strings:
      $exec = "sysoexec" ascii
      // UTF-16BE "curl -" contains the UTF-16LE bytes of "curl " (shifted by one), so "wide" finds it.
      $curl_be = "curl " wide
      $wget_be = "wget " wide
      $curl = "curl " ascii
      $wget = "wget " ascii
   condition:
      uint32be(0) == 0x46617364 and uint16be(4) == 0x5541 and uint8(6) == 0x53   // "FasdUAS"
      and filesize < 10MB
      and $exec and ($curl_be or $wget_be or $curl or $wget)
}
