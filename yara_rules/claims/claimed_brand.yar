/*
   Rules that use what the scanner already knows (EXTERNALS): the claimed brand, the signature and the
   file name. They add evidence; the decision on a claimed brand without proof stays in the verdict logic.
*/

rule SUSP_Brand_Claim_Script_Downloader_Nov26 {
   meta:
      description = "A script that claims to come from a conferencing vendor downloads or runs code"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1036/005/"
      score = 50
      attack = "T1036.005"
   strings:
      $dl1 = "curl " ascii wide nocase
      $dl2 = "wget " ascii wide nocase
      $dl3 = "Invoke-WebRequest" ascii wide nocase
      $dl4 = "DownloadString" ascii wide nocase
      $dl5 = "DownloadFile" ascii wide nocase
      $dl6 = "XMLHTTP" ascii wide nocase
      $dl7 = "do shell script" ascii wide nocase
      $dl8 = "child_process" ascii wide
   condition:
      claimed_brand != "" and not signature_valid
      and (filetype startswith "script:" or filetype startswith "applescript")
      and filesize < 5MB
      and 1 of ($dl*)
}

rule SUSP_Filename_Double_Extension_Nov26 {
   meta:
      description = "File name hides an executable extension behind a document or media extension"
      author = "Lureguard"
      date = "2026-11-25"
      reference = "https://attack.mitre.org/techniques/T1036/007/"
      score = 55
      attack = "T1036.007"
   condition:
      filename matches /\.(pdf|docx?|xlsx?|pptx?|txt|rtf|jpe?g|png|gif|mp[34]|mov|wav)[ \t]*\.(exe|scr|com|pif|lnk|js|jse|vbs|vbe|wsf|hta|bat|cmd|ps1|msi|app|command|scpt)$/i
}
