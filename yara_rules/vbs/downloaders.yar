/*
   VBScript droppers ("wscript update.vbs"): fetch with an HTTP object, save with ADODB.Stream, run
   with WScript.Shell.
*/

rule MAL_VBS_Shell_Run_HTTP_Download_Nov26 {
   meta:
      description = "VBScript downloads over HTTP and runs a command through WScript.Shell"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1059/005/"
      score = 75
      attack = "T1059.005"
   strings:
      $shell = "WScript.Shell" ascii wide nocase
      $run = ".Run" ascii wide nocase
      $http1 = "MSXML2.XMLHTTP" ascii wide nocase
      $http2 = "MSXML2.ServerXMLHTTP" ascii wide nocase
      $http3 = "Microsoft.XMLHTTP" ascii wide nocase
      $http4 = "WinHttp.WinHttpRequest" ascii wide nocase
   condition:
      uint16(0) != 0x5a4d
      and filesize < 5MB
      and $shell and $run and 1 of ($http*)
}

rule SUSP_VBS_ADODB_Stream_Dropper_Nov26 {
   meta:
      description = "VBScript fetches a URL and writes the response to disk with ADODB.Stream"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1105/"
      score = 60
      attack = "T1105"
   strings:
      $stream = "ADODB.Stream" ascii wide nocase
      $save = ".SaveToFile" ascii wide nocase
      $body = "responseBody" ascii wide nocase
      $http1 = "XMLHTTP" ascii wide nocase
      $http2 = "WinHttp.WinHttpRequest" ascii wide nocase
   condition:
      uint16(0) != 0x5a4d
      and filesize < 5MB
      and $stream and $save and $body and 1 of ($http*)
}
