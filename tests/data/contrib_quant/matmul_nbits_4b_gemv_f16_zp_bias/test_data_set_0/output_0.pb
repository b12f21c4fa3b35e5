
ByJl8\Á!BrCG´a8Ü=:yÁj2•ÆÄ=